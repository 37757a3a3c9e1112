package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/internal/local/controlplane"
	"github.com/mlops-dev/nbv/internal/metrics/metricstest"
)

// The files of config/monitoring whose PromQL names our metrics.
var monitoringFiles = []string{"../../config/monitoring/prometheusrule.yaml", "../../config/monitoring/grafana-dashboard.json"}

// nbvPromQL finds the nbv-promql tool that make promtool builds (hack/tools/prometheus: it
// parses PromQL with Prometheus' own parser, which the main module does not depend on). make
// test builds it first and sets NBV_REQUIRE_PROMTOOL=1, so there the test never skips.
func nbvPromQL(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(controlplane.DefaultBinDir(), "nbv-promql")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("NBV_REQUIRE_PROMTOOL") == "1" {
			t.Fatalf("%s: %v (make promtool builds it)", bin, err)
		}
		t.Skipf("%s not built (make promtool; make test builds it)", bin)
	}
	return bin
}

// TestMonitoringQueriesParseAndNameOurMetrics parses every expression of the alert rules and
// the dashboard with Prometheus' parser and checks that each metric it selects is one of our
// instruments under the name Prometheus' OTLP receiver gives it: renaming an instrument, or
// its unit, breaks this test until the rules and the dashboard follow. It also checks that the
// dashboard shows every instrument.
func TestMonitoringQueriesParseAndNameOurMetrics(t *testing.T) {
	bin := nbvPromQL(t)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append([]string{"exprs"}, monitoringFiles...)...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()

	series := map[string]string{} // Prometheus series name -> instrument
	recorded := metricstest.Collect(t, Install, recordAll)
	for name, prom := range prometheusNames(t) {
		if recorded[name].Kind == metricstest.Histogram {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				series[prom+suffix] = name
			}
			continue
		}
		series[prom] = name
	}
	onDashboard := map[string]bool{}
	n := 0
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var e struct {
			File, Where, Expr, Error string
			Metrics                  []string
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("nbv-promql output %q: %v", sc.Text(), err)
		}
		n++
		where := filepath.Base(e.File) + " " + e.Where
		if e.Error != "" {
			t.Errorf("%s: %q does not parse: %s", where, e.Expr, e.Error)
			continue
		}
		if len(e.Metrics) == 0 {
			t.Errorf("%s: %q selects no metric", where, e.Expr)
		}
		for _, m := range e.Metrics {
			name, ok := series[m]
			if !ok {
				t.Errorf("%s: %q names %s, which no instrument of package metrics exports (they are %v)", where, e.Expr, m, slices.Sorted(func(yield func(string) bool) {
					for s := range series {
						if !yield(s) {
							return
						}
					}
				}))
				continue
			}
			if strings.HasSuffix(e.File, ".json") {
				onDashboard[name] = true
			}
		}
	}
	if runErr != nil && !t.Failed() {
		t.Fatalf("nbv-promql: %v: %s", runErr, stderr.String())
	}
	if n < 20 {
		t.Errorf("only %d expressions found in %v", n, monitoringFiles)
	}
	for _, name := range series {
		if !onDashboard[name] {
			t.Errorf("instrument %s is on no panel of the dashboard", name)
		}
	}
}

// TestEveryAlertHasAFiringAndAQuietTest reads the rule file and the promtool tests of
// config/monitoring/tests and checks that each alert is tested firing and not firing (promtool
// itself runs them: make monitoring-test).
func TestEveryAlertHasAFiringAndAQuietTest(t *testing.T) {
	var rule struct {
		Spec struct {
			Groups []struct {
				Rules []struct {
					Alert string `json:"alert"`
				} `json:"rules"`
			} `json:"groups"`
		} `json:"spec"`
	}
	readYAML(t, "../../config/monitoring/prometheusrule.yaml", &rule)
	tests, err := filepath.Glob("../../config/monitoring/tests/*.yaml")
	if err != nil || len(tests) == 0 {
		t.Fatalf("no promtool tests: %v", err)
	}
	firing, quiet := map[string]bool{}, map[string]bool{}
	for _, file := range tests {
		var f struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string            `json:"alertname"`
					ExpAlerts []json.RawMessage `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		readYAML(t, file, &f)
		for _, tc := range f.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					quiet[a.Alertname] = true
				}
			}
		}
	}
	n := 0
	for _, g := range rule.Spec.Groups {
		for _, r := range g.Rules {
			n++
			if !firing[r.Alert] {
				t.Errorf("alert %s has no promtool test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("alert %s has no promtool test where it does not fire", r.Alert)
			}
		}
	}
	if n == 0 {
		t.Fatal("no alert in the rule file")
	}
}

func readYAML(t *testing.T, path string, into any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, into); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
