package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
)

// outputFlag is -o/--output; check refuses a value it does not know (exit 2).
type outputFlag struct {
	format string
	// table: whether the command has a table to print (wide only makes sense then).
	table bool
}

func newOutputFlag(fs *pflag.FlagSet, table bool) *outputFlag {
	o := &outputFlag{table: table}
	help := "output format: json or yaml"
	if table {
		help = "output format: json, yaml, or wide (the table with the columns kubectl get -o wide shows)"
	}
	fs.StringVarP(&o.format, "output", "o", "", help)
	return o
}

func (o *outputFlag) check() error {
	switch o.format {
	case outputTable, outputJSON, outputYAML:
		return nil
	case outputWide:
		if o.table {
			return nil
		}
	}
	want := "json or yaml"
	if o.table {
		want = "json, yaml or wide"
	}
	return usagef("--output %q: want %s", o.format, want)
}

// structured reports whether the output is the object itself (json, yaml).
func (o *outputFlag) structured() bool { return o.format == outputJSON || o.format == outputYAML }

// printObject writes obj (a job or a list, as the API server returned it) as JSON or YAML.
func (o *outputFlag) printObject(w io.Writer, obj map[string]any) error {
	var data []byte
	var err error
	if o.format == outputYAML {
		data, err = yaml.Marshal(obj)
	} else {
		data, err = json.MarshalIndent(obj, "", "    ")
		data = append(data, '\n')
	}
	if err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// tableClient asks the API server for jobs as a meta.k8s.io Table: the server fills the CRD's
// additionalPrinterColumns, so nbv list shows what kubectl get nvj shows.
func tableClient(cfg *rest.Config) (*rest.RESTClient, error) {
	c := rest.CopyConfig(cfg)
	c.GroupVersion = &v1alpha1.SchemeGroupVersion
	c.APIPath = "/apis"
	c.AcceptContentTypes = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
	// client-go's scheme decodes the API server's Status errors (a missing job's NotFound).
	c.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return rest.RESTClientFor(c)
}

// getTable fetches one job (name set) or the jobs of namespace ("" for every namespace) as a
// Table.
func getTable(ctx context.Context, cfg *rest.Config, namespace, name string) (*metav1.Table, error) {
	client, err := tableClient(cfg)
	if err != nil {
		return nil, err
	}
	// Metadata: each row carries its object's namespace, for the NAMESPACE column of -A.
	req := client.Get().Resource(v1alpha1.Resource).Param("includeObject", "Metadata")
	if namespace != "" {
		req = req.Namespace(namespace)
	}
	if name != "" {
		req = req.Name(name)
	}
	raw, err := req.DoRaw(ctx)
	if apierrors.IsNotFound(err) && name != "" {
		// The Table request's NotFound carries no name; kubectl's message does.
		return nil, apierrors.NewNotFound(v1alpha1.GroupVersionResource.GroupResource(), name)
	}
	if err != nil {
		return nil, err
	}
	table := &metav1.Table{}
	if err := json.Unmarshal(raw, table); err != nil {
		return nil, fmt.Errorf("the API server's table of jobs: %w", err)
	}
	return table, nil
}

// printTable writes the table as kubectl does: upper-case headers, the columns of priority 0
// (all with wide), dates as ages, a NAMESPACE column first when the jobs come from every
// namespace.
func printTable(w io.Writer, t *metav1.Table, wide, allNamespaces bool, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	var cols []int
	var header []string
	if allNamespaces {
		header = append(header, "NAMESPACE")
	}
	for i, c := range t.ColumnDefinitions {
		if c.Priority == 0 || wide {
			cols = append(cols, i)
			header = append(header, strings.ToUpper(c.Name))
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range t.Rows {
		var cells []string
		if allNamespaces {
			var meta metav1.PartialObjectMetadata
			_ = json.Unmarshal(row.Object.Raw, &meta)
			cells = append(cells, meta.Namespace)
		}
		for _, i := range cols {
			cells = append(cells, cellText(t.ColumnDefinitions[i], row.Cells, i, now))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	return tw.Flush()
}

// cellText is one table cell as text: a date as its age, a missing value as kubectl's <none>.
func cellText(col metav1.TableColumnDefinition, cells []any, i int, now time.Time) string {
	if i >= len(cells) || cells[i] == nil {
		return "<none>"
	}
	s, ok := cells[i].(string)
	if !ok {
		// Numbers, booleans or an object a column's JSONPath selects: as JSON, never Go syntax.
		b, _ := json.Marshal(cells[i])
		s = string(b)
	}
	if col.Type == "date" {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return duration.HumanDuration(now.Sub(t))
		}
	}
	if s == "" {
		return "<none>"
	}
	// A cell is one line: a message with newlines would break the columns.
	return strings.Join(strings.Fields(s), " ")
}
