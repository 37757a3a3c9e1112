// Package jsonschema validates JSON documents against the project's schemas: the 2020-12
// keywords they use, nothing else; a schema using any other keyword is refused when loaded.
//
// It replaces a general-purpose library whose package initialisation compiled the meta-schemas
// of every draft in every function process. Here nothing happens until a schema is first used:
// a Set compiles a schema file (and the files it refers to) on first request and keeps it.
//
// Keywords: $schema (2020-12 only), $id (document root only), $ref (to another file of the set
// and/or a JSON pointer fragment), $defs, type, properties, required, additionalProperties,
// items, enum, const, pattern (Go regexp), minLength, maxLength (in code points), minimum,
// format (date-time and uri, asserted), allOf, anyOf, if, then, and the annotations title,
// description, $comment, examples, default, deprecated, readOnly and writeOnly.
package jsonschema
