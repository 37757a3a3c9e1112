package controlplane

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RestartAPIServer stops kube-apiserver (SIGTERM, SIGKILL after grace) and starts it again with
// the same flags, port, certificates and audit log, keeping etcd and everything in it: what a
// rolling restart or a crash of the API server looks like to its clients, whose requests fail
// meanwhile and whose watches must resume. It returns once the new process is ready, or ctx
// ends.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context, grace time.Duration) error {
	cp.mu.Lock()
	if cp.apiBin == "" {
		cp.mu.Unlock()
		return errors.New("controlplane: restart: kube-apiserver was never started")
	}
	old := cp.procs[cp.apiIndex]
	cp.mu.Unlock()
	if err := old.Stop(grace); err != nil {
		return fmt.Errorf("controlplane: restart: stopping kube-apiserver: %w", err)
	}
	api, err := startProcess("kube-apiserver", cp.apiBin, cp.apiArgs, cp.dir)
	if err != nil {
		return fmt.Errorf("controlplane: restart: %w", err)
	}
	cp.mu.Lock()
	cp.procs[cp.apiIndex] = api
	cp.mu.Unlock()
	if err := cp.waitReady(ctx); err != nil {
		return fmt.Errorf("controlplane: restart: %w", err)
	}
	return nil
}
