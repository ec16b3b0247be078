// Package jsonenc appends JSON the way encoding/json writes it, without
// reflection: strings (with or without HTML escaping), floats, and decoded
// trees (map[string]any with sorted keys, []any, json.Number…). The record
// and the redacted request body are built on every request, where
// encoding/json's reflection was a quarter of the cost; tests hold every
// function here to encoding/json's bytes.
package jsonenc
