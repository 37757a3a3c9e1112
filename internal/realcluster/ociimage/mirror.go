package ociimage

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// aptSources are the files apt reads its sources from: one-line format in sources.list and
// *.list, deb822 format in *.sources.
const (
	aptSourcesList = "/etc/apt/sources.list"
	aptSourcesDir  = "/etc/apt/sources.list.d"
)

// hostMirror is the first "deb" source of the host's apt configuration for suite, or "" when
// there is none (debootstrap then uses its own default mirror).
func hostMirror(suite string) string {
	files := []string{aptSourcesList}
	for _, pattern := range []string{"*.list", "*.sources"} {
		matches, _ := filepath.Glob(filepath.Join(aptSourcesDir, pattern))
		slices.Sort(matches)
		files = append(files, matches...)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		var uri string
		if strings.HasSuffix(f, ".sources") {
			uri = deb822Mirror(string(text), suite)
		} else {
			uri = oneLineMirror(string(text), suite)
		}
		if uri != "" {
			return uri
		}
	}
	return ""
}

// oneLineMirror finds suite in one-line format: `deb [options] uri suite components...`.
func oneLineMirror(text, suite string) string {
	for _, line := range strings.Split(text, "\n") {
		line, _, _ = strings.Cut(line, "#")
		fields := strings.Fields(line)
		if len(fields) < 3 || fields[0] != "deb" {
			continue
		}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			end := slices.IndexFunc(rest, func(f string) bool { return strings.HasSuffix(f, "]") })
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		if len(rest) >= 2 && rest[1] == suite {
			return rest[0]
		}
	}
	return ""
}

// deb822Mirror finds suite in deb822 format: paragraphs of Types, URIs, Suites and Enabled.
func deb822Mirror(text, suite string) string {
	for _, para := range strings.Split(text, "\n\n") {
		fields := map[string][]string{}
		for _, line := range strings.Split(para, "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "#") {
				continue
			}
			key, value, ok := strings.Cut(line, ":")
			if !ok || strings.ContainsAny(key, " \t") {
				continue
			}
			fields[strings.ToLower(key)] = strings.Fields(value)
		}
		if slices.Equal(fields["enabled"], []string{"no"}) || !slices.Contains(fields["types"], "deb") ||
			!slices.Contains(fields["suites"], suite) || len(fields["uris"]) == 0 {
			continue
		}
		return fields["uris"][0]
	}
	return ""
}
