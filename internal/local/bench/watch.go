package bench

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/mlops-dev/nbv/api/v1alpha1"
	"github.com/mlops-dev/nbv/internal/buildchild/childapi"
)

// watchRun starts the harness's informers on the run's namespace: jobs (each phase as first
// seen), validation pods (first seen, then played by the kubelet), PipelineRuns and OpenShift
// Builds (played by their controllers); a job entering Building with an external build wakes
// the played CI. They resume by themselves after an API server restart; cancel ctx, then call
// the returned shutdown to wait for them to stop.
func watchRun(ctx context.Context, kube kubernetes.Interface, dyn dynamic.Interface, rec *recorder, act *actors) (shutdown func(), err error) {
	withJobLabel := func(o *metav1.ListOptions) { o.LabelSelector = v1alpha1.LabelJob }
	dynFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, benchNamespace, nil)
	childFactory := dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, benchNamespace, withJobLabel)
	podFactory := informers.NewSharedInformerFactoryWithOptions(kube, 0, informers.WithNamespace(benchNamespace),
		informers.WithTweakListOptions(withJobLabel))

	onJob := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return
		}
		now := time.Now()
		phase, _, _ := unstructured.NestedString(u.Object, "status", "phase")
		rec.sawJob(u.GetName(), u.GetUID(), phase, now)
		if phase == v1alpha1.PhaseBuilding {
			if p, ok := rec.plan(u.GetName()); ok && p.Kind == External {
				act.externalBuilding(u.GetName())
			}
		}
	}
	onPod := func(obj any) {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			return
		}
		job := pod.Labels[v1alpha1.LabelJob]
		rec.sawPod(job, pod.Name, time.Now())
		act.podAdded(job, pod.Name)
	}
	onBuild := func(r childapi.Resource) func(any) {
		return func(obj any) {
			if u, ok := obj.(*unstructured.Unstructured); ok {
				act.buildAdded(r, u.GetLabels()[v1alpha1.LabelJob], u.GetName())
			}
		}
	}
	handlers := []struct {
		inf cache.SharedIndexInformer
		on  func(any)
	}{
		{dynFactory.ForResource(v1alpha1.GroupVersionResource).Informer(), onJob},
		{podFactory.Core().V1().Pods().Informer(), onPod},
		{childFactory.ForResource(childapi.PipelineRuns.GVR).Informer(), onBuild(childapi.PipelineRuns)},
		{childFactory.ForResource(childapi.Builds.GVR).Informer(), onBuild(childapi.Builds)},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    h.on,
			UpdateFunc: func(_, obj any) { h.on(obj) },
		}); err != nil {
			return nil, fmt.Errorf("bench: informer: %w", err)
		}
	}
	dynFactory.Start(ctx.Done())
	childFactory.Start(ctx.Done())
	podFactory.Start(ctx.Done())
	shutdown = func() {
		dynFactory.Shutdown()
		childFactory.Shutdown()
		podFactory.Shutdown()
	}
	for _, h := range handlers {
		if !cache.WaitForCacheSync(ctx.Done(), h.inf.HasSynced) {
			return shutdown, fmt.Errorf("bench: informers did not sync: %w", ctx.Err())
		}
	}
	return shutdown, nil
}
