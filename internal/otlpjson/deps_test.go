package otlpjson_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestPackageLinksNoProtobufGRPCOrOTLPProto: the package exists so that a binary exporting
// spans and metrics does not link protobuf, gRPC or the generated OTLP types (megabytes, and
// milliseconds of initialisation at every process start). A program importing it gets exactly
// its non-test dependencies, which `go list -deps` lists.
func TestPackageLinksNoProtobufGRPCOrOTLPProto(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/mlops-dev/nbv/internal/otlpjson").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	forbidden := []string{"google.golang.org/grpc", "google.golang.org/protobuf", "go.opentelemetry.io/proto"}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		for _, f := range forbidden {
			if dep == f || strings.HasPrefix(dep, f+"/") {
				t.Errorf("internal/otlpjson depends on %s", dep)
			}
		}
	}
	if len(deps) < 10 {
		t.Errorf("go list -deps listed only %v", deps)
	}
}
