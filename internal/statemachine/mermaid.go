package statemachine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/mlops-dev/nbv/api/v1alpha1"
)

// edge is one arrow of the diagram; label is one line of its text.
type (
	edge  struct{ from, to string }
	label struct{ guard, effect string }
)

// outcome is where one kind takes a phase's samples, and which samples go there.
type outcome struct {
	to     string
	effect Effect
	guards []string
}

// Mermaid renders the machine as a Mermaid stateDiagram-v2, derived by running Decide over
// every phase x kind with the representative samples: an edge exists because Decide takes it.
// Each label line lists observation kinds, then in brackets the samples taking the edge when
// not all of the phase's samples do, then the effect after a slash.
func Mermaid() string {
	var edges []edge
	lines := map[edge][]label{}
	kinds := map[edge]map[label][]string{}
	for _, phase := range AllPhases {
		phaseSamples := samples(phase)
		for _, kind := range AllKinds {
			for _, o := range outcomes(phaseSamples, kind) {
				l := label{effect: string(o.effect)}
				if len(o.guards) < len(phaseSamples) {
					l.guard = strings.Join(o.guards, ", ")
				}
				e := edge{stateName(phase), stateName(o.to)}
				if kinds[e] == nil {
					edges = append(edges, e)
					kinds[e] = map[label][]string{}
				}
				if kinds[e][l] == nil {
					lines[e] = append(lines[e], l)
				}
				kinds[e][l] = append(kinds[e][l], string(kind))
			}
		}
	}
	var b strings.Builder
	b.WriteString("stateDiagram-v2\n")
	for _, legacy := range []string{v1alpha1.PhasePending, v1alpha1.PhaseRunning} {
		fmt.Fprintf(&b, "    %s: %s (legacy)\n", legacy, legacy)
	}
	for _, e := range edges {
		text := make([]string, 0, len(lines[e]))
		for _, l := range lines[e] {
			line := strings.Join(kinds[e][l], ", ")
			switch n := len(kinds[e][l]); {
			case n == len(AllKinds):
				line = "any observation"
			case n == len(AllKinds)-2 && !slices.Contains(kinds[e][l], string(PodPending)) && !slices.Contains(kinds[e][l], string(PodRunning)):
				line = "any observation but PodPending, PodRunning"
			}
			if l.guard != "" {
				line += " [" + l.guard + "]"
			}
			if l.effect != "" {
				line += " / " + l.effect
			}
			text = append(text, line)
		}
		fmt.Fprintf(&b, "    %s --> %s: %s\n", e.from, e.to, strings.Join(text, "<br/>"))
	}
	for _, terminal := range []string{v1alpha1.PhaseSucceeded, v1alpha1.PhaseFailed} {
		fmt.Fprintf(&b, "    %s --> [*]\n", terminal)
	}
	return b.String()
}

// outcomes groups the samples by where an observation of kind takes them; unchanged
// samples draw no edge.
func outcomes(phaseSamples []sample, kind Kind) []outcome {
	var found []outcome
	for _, s := range phaseSamples {
		d := Decide(s.job, sampleObservation(s.job, kind))
		if !d.Changed {
			continue
		}
		i := 0
		for i < len(found) && (found[i].to != d.Status.Phase || found[i].effect != d.Effect) {
			i++
		}
		if i == len(found) {
			found = append(found, outcome{to: d.Status.Phase, effect: d.Effect})
		}
		found[i].guards = append(found[i].guards, s.guard)
	}
	return found
}

// stateName is the diagram's name for a phase: "" is the start state.
func stateName(phase string) string {
	if phase == v1alpha1.PhaseNone {
		return "[*]"
	}
	return phase
}
