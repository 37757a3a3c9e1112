package cli

import (
	"context"
	"fmt"
	"io"
	"sort"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/mlops-dev/nbv/internal/validationpod"
)

func newLogsCommand() *cobra.Command {
	var follow bool
	var container string
	cmd := &cobra.Command{
		Use:   "logs JOB",
		Short: "print the log of a job's validation pod (the notebook's run; -f follows it)",
		Long: `Print the log of the job's validation pod: the pod status.validationPodName names, else the
newest pod labelled ` + validationpod.LabelJob + `=JOB. The container is "` + validationpod.NotebookContainer + `" (the
notebook's run) unless -c names "` + validationpod.PrepareContainer + `" (the clone of the repositories).`,
		Args: exactlyOneJob,
	}
	fs := cmd.Flags()
	fs.BoolVarP(&follow, "follow", "f", false, "stream the log until the container ends")
	fs.StringVarP(&container, "container", "c", validationpod.NotebookContainer, "container: "+validationpod.NotebookContainer+" or "+validationpod.PrepareContainer)
	cluster := newClusterFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, job, err := clusterJob(cmd.Context(), cluster, args[0])
		if err != nil {
			return err
		}
		kube, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return err
		}
		return printPodLog(cmd.Context(), kube, job, container, follow, cmd.OutOrStdout())
	}
	return cmd
}

// printPodLog copies the log of job's validation pod's container to w.
func printPodLog(ctx context.Context, kube kubernetes.Interface, job *unstructured.Unstructured, container string, follow bool, w io.Writer) error {
	pod, err := validationPodName(ctx, kube, job)
	if err != nil {
		return err
	}
	stream, err := kube.CoreV1().Pods(job.GetNamespace()).GetLogs(pod, &corev1.PodLogOptions{Container: container, Follow: follow}).Stream(ctx)
	if err != nil {
		return fmt.Errorf("log of pod %s/%s container %s: %w", job.GetNamespace(), pod, container, err)
	}
	defer stream.Close()
	_, err = io.Copy(w, stream)
	return err
}

// validationPodName is the pod the job's status names, else its newest labelled pod (a retried
// job has had several).
func validationPodName(ctx context.Context, kube kubernetes.Interface, job *unstructured.Unstructured) (string, error) {
	if name, _, _ := unstructured.NestedString(job.Object, "status", "validationPodName"); name != "" {
		return name, nil
	}
	selector := labels.SelectorFromSet(labels.Set{validationpod.LabelJob: job.GetName()}).String()
	pods, err := kube.CoreV1().Pods(job.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return "", fmt.Errorf("find the validation pod of job %s: %w", job.GetName(), err)
	}
	if len(pods.Items) == 0 {
		phase, _, _ := unstructured.NestedString(job.Object, "status", "phase")
		return "", fmt.Errorf("job %s/%s has no validation pod yet (phase %q)", job.GetNamespace(), job.GetName(), phase)
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[j].CreationTimestamp.Before(&pods.Items[i].CreationTimestamp)
	})
	return pods.Items[0].Name, nil
}
