package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// The commands that read and remove jobs by name, as kubectl get and delete do for nvj.

func newListCommand() *cobra.Command {
	var allNamespaces bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "list NotebookValidationJobs (the columns of kubectl get nvj)",
		Args:    cobra.NoArgs,
	}
	fs := cmd.Flags()
	fs.BoolVarP(&allNamespaces, "all-namespaces", "A", false, "list the jobs of every namespace")
	cluster := newClusterFlags(fs)
	output := newOutputFlag(fs, true)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := output.check(); err != nil {
			return err
		}
		cfg, err := cluster.restConfig()
		if err != nil {
			return err
		}
		namespace := ""
		if !allNamespaces {
			if namespace, err = cluster.namespace(""); err != nil {
				return err
			}
		}
		if output.structured() {
			client, err := dynamic.NewForConfig(cfg)
			if err != nil {
				return err
			}
			list, err := client.Resource(v1alpha1.GroupVersionResource).Namespace(namespace).List(cmd.Context(), metav1.ListOptions{})
			if err != nil {
				return err
			}
			return output.printObject(cmd.OutOrStdout(), list.UnstructuredContent())
		}
		table, err := getTable(cmd.Context(), cfg, namespace, "")
		if err != nil {
			return err
		}
		if len(table.Rows) == 0 {
			where := "in namespace " + namespace
			if allNamespaces {
				where = "in any namespace"
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "No NotebookValidationJobs found %s.\n", where)
			return nil
		}
		return printTable(cmd.OutOrStdout(), table, output.format == outputWide, allNamespaces, time.Now())
	}
	return cmd
}

func newGetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get JOB",
		Short: "show one NotebookValidationJob (a table row, or the whole job with -o json|yaml)",
		Args:  exactlyOneJob,
	}
	fs := cmd.Flags()
	cluster := newClusterFlags(fs)
	output := newOutputFlag(fs, true)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := output.check(); err != nil {
			return err
		}
		cfg, namespace, err := clusterAndNamespace(cluster)
		if err != nil {
			return err
		}
		if output.structured() {
			job, err := getJob(cmd.Context(), cfg, namespace, args[0])
			if err != nil {
				return err
			}
			return output.printObject(cmd.OutOrStdout(), job.Object)
		}
		table, err := getTable(cmd.Context(), cfg, namespace, args[0])
		if err != nil {
			return err
		}
		return printTable(cmd.OutOrStdout(), table, output.format == outputWide, false, time.Now())
	}
	return cmd
}

func newDeleteCommand() *cobra.Command {
	var wait bool
	cmd := &cobra.Command{
		Use:   "delete JOB",
		Short: "delete a NotebookValidationJob (its pod and builds go with it: they are owned by it)",
		Args:  exactlyOneJob,
	}
	fs := cmd.Flags()
	fs.BoolVar(&wait, "wait", false, "wait until the job is gone (its finalizers, if any, have run)")
	cluster := newClusterFlags(fs)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		cfg, namespace, err := clusterAndNamespace(cluster)
		if err != nil {
			return err
		}
		client, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return err
		}
		jobs := client.Resource(v1alpha1.GroupVersionResource).Namespace(namespace)
		background := metav1.DeletePropagationBackground
		if err := jobs.Delete(cmd.Context(), args[0], metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			return err
		}
		if wait {
			if err := waitGone(cmd, jobs, args[0]); err != nil {
				return err
			}
		}
		fmt.Fprintf(cmd.OutOrStdout(), "notebookvalidationjob.mlops.mlops.dev %q deleted\n", args[0])
		return nil
	}
	return cmd
}

// exactlyOneJob accepts one argument, the job's name.
func exactlyOneJob(_ *cobra.Command, args []string) error {
	if len(args) != 1 {
		return usagef("name one job (got %d arguments)", len(args))
	}
	return nil
}

func clusterAndNamespace(cluster *clusterFlags) (cfg *rest.Config, namespace string, err error) {
	if cfg, err = cluster.restConfig(); err != nil {
		return nil, "", err
	}
	namespace, err = cluster.namespace("")
	return cfg, namespace, err
}

// waitGone waits, with a watch, until the job name no longer exists.
func waitGone(cmd *cobra.Command, jobs dynamic.ResourceInterface, name string) error {
	gone := func(store cache.Store) (bool, error) {
		return len(store.List()) == 0, nil
	}
	_, err := watchtools.UntilWithSync(cmd.Context(), jobListWatch(jobs, name), &unstructured.Unstructured{}, gone,
		func(ev watch.Event) (bool, error) { return ev.Type == watch.Deleted, nil })
	if err != nil {
		return fmt.Errorf("wait for job %s to be gone: %w", name, err)
	}
	return nil
}

// getJob reads one job as the API server has it.
// clusterJob reads the job name from the cluster and namespace the flags choose.
func clusterJob(ctx context.Context, cluster *clusterFlags, name string) (*rest.Config, *unstructured.Unstructured, error) {
	cfg, namespace, err := clusterAndNamespace(cluster)
	if err != nil {
		return nil, nil, err
	}
	job, err := getJob(ctx, cfg, namespace, name)
	if err != nil {
		return nil, nil, err
	}
	return cfg, job, nil
}

func getJob(ctx context.Context, cfg *rest.Config, namespace, name string) (*unstructured.Unstructured, error) {
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return client.Resource(v1alpha1.GroupVersionResource).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}
