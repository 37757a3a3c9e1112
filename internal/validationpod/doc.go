// Package validationpod owns the validation Pod: Build turns a NotebookValidationJob into the
// Pod that clones and runs its notebook, Classify reads a Pod back into an Outcome the state
// machine understands, and Results maps the runner's summary into status fields.
//
// The Pod has two containers sharing emptyDirs under /nbv:
//
//   - init container "prepare" (the runner image) copies nbv-runner into /nbv/bin and clones
//     the notebook (and golden) repositories into /nbv/workspace. Git credentials are Secret
//     volumes mounted into this container only, so no other process in the pod, and nothing
//     in the pod spec, ever holds their values.
//   - container "notebook" (the user's or the built image) runs /nbv/bin/nbv-runner execute
//     with the job spec in NBV_JOB_SPEC and writes the summary to /dev/termination-log,
//     from where the kubelet copies it into the Pod status (see internal/runner/summary).
//
// Everything here is pure: no API calls, no clock. Build is deterministic for a given input,
// which the golden files in test/fixtures/podspec pin down.
package validationpod
