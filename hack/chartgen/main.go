// Command chartgen writes the generated files of charts/nbv (values.yaml, crds/,
// templates/config/, templates/eventsources/) from config/ and eventsources/:
//
//	go run ./hack/chartgen [-root .] [-out charts/nbv]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/mlops-dev/nbv/internal/chartgen"
)

func main() {
	root := flag.String("root", ".", "repository root")
	out := flag.String("out", "charts/nbv", "chart directory to write into")
	flag.Parse()
	chart, err := chartgen.Generate(*root)
	if err == nil {
		err = chart.Write(*out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
