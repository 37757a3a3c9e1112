// Package schemas owns the JSON Schemas (draft 2020-12) of every CloudEvent data payload the
// project accepts or emits, and of the runner's termination-log summary. Each event schema is
// named after its CloudEvent type (<type>.json) and has a valid example in examples/<type>.json.
// They are embedded so that validation at the edge needs no files at run time.
package schemas

import "embed"

// FS holds every *.json schema in this directory, embedded by glob so that schemas added by
// other parts of the project are picked up without touching this file.
//
//go:embed *.json
var FS embed.FS
