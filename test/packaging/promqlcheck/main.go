// Copyright 2026 The nodeallow Authors.
// SPDX-License-Identifier: Apache-2.0

// Command promqlcheck parses PromQL expressions with Prometheus' own parser, for
// the chart tests in test/packaging: it reads a JSON array of expressions on
// stdin and writes, for each, the parse error (if any) and the metric names its
// selectors name. It is a module of its own so that the Prometheus server module
// never enters the controller's dependency graph.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// result is what promqlcheck reports about one expression.
type result struct {
	Expr    string   `json:"expr"`
	Error   string   `json:"error,omitempty"`
	Metrics []string `json:"metrics"`
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promqlcheck: reading a JSON array of expressions on stdin: %v\n", err)
		os.Exit(2)
	}
	p := parser.NewParser(parser.Options{})
	results := make([]result, 0, len(exprs))
	for _, e := range exprs {
		results = append(results, check(p, e))
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		fmt.Fprintf(os.Stderr, "promqlcheck: writing the results: %v\n", err)
		os.Exit(2)
	}
}

// check parses one expression and collects the metric names of its selectors.
func check(p parser.Parser, e string) result {
	r := result{Expr: e, Metrics: []string{}}
	expr, err := p.ParseExpr(e)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	parser.Inspect(expr, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		name := vs.Name
		if name == "" {
			// {__name__="..."} selects by name without naming it up front.
			for _, m := range vs.LabelMatchers {
				if m.Name == model.MetricNameLabel && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
		}
		if name == "" {
			r.Error = fmt.Sprintf("selector %s names no metric", vs)
		} else if !slices.Contains(r.Metrics, name) {
			r.Metrics = append(r.Metrics, name)
		}
		return nil
	})
	slices.Sort(r.Metrics)
	return r
}
