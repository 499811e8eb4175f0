// ghz-report writes one ghz JSON report (ghz --format json) again as CSV and HTML with ghz's
// own printer, so the three formats describe the same run (ghz writes one format per run).
//
//	ghz-report REPORT.json OUT.csv OUT.html
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/bojand/ghz/printer"
	"github.com/bojand/ghz/runner"
)

func main() {
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: ghz-report REPORT.json OUT.csv OUT.html")
		os.Exit(2)
	}
	raw, err := os.ReadFile(os.Args[1])
	check(err)
	var report runner.Report
	check(json.Unmarshal(raw, &report))
	write(&report, "csv", os.Args[2])
	write(&report, "html", os.Args[3])
}

func write(report *runner.Report, format, path string) {
	out, err := os.Create(path)
	check(err)
	defer out.Close()
	check((&printer.ReportPrinter{Report: report, Out: out}).Print(format))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "ghz-report:", err)
		os.Exit(1)
	}
}
