// Command nbv-promql reads the PromQL of config/monitoring with Prometheus' own parser (this
// module pins github.com/prometheus/prometheus, the version whose promtool `make promtool`
// builds), so that the main module needs no Prometheus dependency:
//
//	nbv-promql rules PROMETHEUSRULE.yaml   prints the PrometheusRule's spec: a rule file for
//	                                       promtool check rules / test rules
//	nbv-promql exprs FILE...               prints one JSON object per expression of each file
//	                                       (a PrometheusRule's rules, a Grafana dashboard's
//	                                       targets): where it is, the expression, the metric
//	                                       names it selects and its selectors (each series
//	                                       selector as PromQL), or its parse error; exits 1
//	                                       when any expression does not parse
//
// A dashboard's Grafana variables are replaced before parsing: a variable that is a whole
// range ([$window], [$__rate_interval]) by 5m, any other $name or ${name} (used only inside
// label matchers) by .+.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"sigs.k8s.io/yaml"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "nbv-promql:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: nbv-promql rules PROMETHEUSRULE.yaml | nbv-promql exprs FILE...")
	}
	switch args[0] {
	case "rules":
		spec, err := ruleSpec(args[1])
		if err != nil {
			return err
		}
		out, err := yaml.Marshal(spec)
		if err != nil {
			return err
		}
		_, err = os.Stdout.Write(out)
		return err
	case "exprs":
		bad := 0
		enc := json.NewEncoder(os.Stdout)
		for _, file := range args[1:] {
			found, err := expressions(file)
			if err != nil {
				return err
			}
			if len(found) == 0 {
				return fmt.Errorf("%s: no PromQL expression found", file)
			}
			for _, e := range found {
				e.File = file
				e.Metrics, e.Selectors, e.Error = selected(e.Expr)
				if e.Error != "" {
					bad++
				}
				if err := enc.Encode(e); err != nil {
					return err
				}
			}
		}
		if bad > 0 {
			return fmt.Errorf("%d expression(s) do not parse", bad)
		}
		return nil
	}
	return fmt.Errorf("unknown command %q: want rules or exprs", args[0])
}

// Expr is one expression found in a file.
type Expr struct {
	File  string `json:"file"`
	Where string `json:"where"`
	Expr  string `json:"expr"`
	// Panel and Legend are a dashboard target's panel title and legendFormat.
	Panel   string   `json:"panel,omitempty"`
	Legend  string   `json:"legend,omitempty"`
	Metrics []string `json:"metrics"`
	// Selectors are the expression's series selectors, e.g. nbv_refusals_total{reason="NotBound"}:
	// what must hold data for the expression to mean anything.
	Selectors []string `json:"selectors"`
	Error     string   `json:"error,omitempty"`
}

// ruleSpec returns the spec of the PrometheusRule in file.
func ruleSpec(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if obj.Kind != "PrometheusRule" || obj.Spec == nil {
		return nil, fmt.Errorf("%s: not a PrometheusRule with a spec", file)
	}
	return obj.Spec, nil
}

// expressions finds the PromQL of a PrometheusRule (.yaml) or a Grafana dashboard (.json).
func expressions(file string) ([]Expr, error) {
	if strings.HasSuffix(file, ".json") {
		return dashboardExpressions(file)
	}
	spec, err := ruleSpec(file)
	if err != nil {
		return nil, err
	}
	data, _ := json.Marshal(spec)
	var rules struct {
		Groups []struct {
			Name  string `json:"name"`
			Rules []struct {
				Alert  string `json:"alert"`
				Record string `json:"record"`
				Expr   string `json:"expr"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &rules); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []Expr
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			out = append(out, Expr{Where: g.Name + "/" + r.Alert + r.Record, Expr: r.Expr})
		}
	}
	return out, nil
}

type panel struct {
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		RefID  string `json:"refId"`
		Expr   string `json:"expr"`
		Legend string `json:"legendFormat"`
	} `json:"targets"`
}

func dashboardExpressions(file string) ([]Expr, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var d struct {
		Panels     []panel `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []Expr
	var walk func(ps []panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Expr{Where: "panel " + p.Title + " " + t.RefID, Panel: p.Title, Legend: t.Legend, Expr: grafanaVars(t.Expr)})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		// label_values(SELECTOR, label) is Grafana's, not PromQL: its selector is.
		if sel := labelValues.FindStringSubmatch(q); sel != nil {
			q = sel[1]
		}
		out = append(out, Expr{Where: "variable " + v.Name, Expr: grafanaVars(q)})
	}
	return out, nil
}

var (
	labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)
	ranges      = regexp.MustCompile(`\[\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?\]`)
	variables   = regexp.MustCompile(`\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?`)
)

func grafanaVars(expr string) string {
	return variables.ReplaceAllString(ranges.ReplaceAllString(expr, "[5m]"), ".+")
}

// selected parses expr and returns the sorted metric names its selectors name and the sorted
// selectors themselves.
func selected(expr string) ([]string, []string, string) {
	p := parser.NewParser(parser.Options{})
	node, err := p.ParseExpr(expr)
	if err != nil {
		return nil, nil, err.Error()
	}
	names, selectors := map[string]bool{}, map[string]bool{}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		selectors[vs.String()] = true
		if vs.Name != "" {
			names[vs.Name] = true
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
				names[m.Value] = true
			}
		}
		return nil
	})
	return slices.Sorted(maps.Keys(names)), slices.Sorted(maps.Keys(selectors)), ""
}
