package schema

import (
	"bytes"
	_ "embed"
	"fmt"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// RecordV1 is the JSON Schema (draft 2020-12) of a version 1 record.
//
//go:embed record.v1.json
var RecordV1 []byte

// Validator checks encoded records against the embedded JSON Schema. It is
// safe for concurrent use.
type Validator struct {
	schema *jsonschema.Schema
}

// NewValidator compiles the embedded schema, with format assertions on.
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(RecordV1))
	if err != nil {
		return nil, fmt.Errorf("schema: decode record.v1.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "record.v1.json"
	if err := c.AddResource(url, doc); err != nil {
		return nil, fmt.Errorf("schema: add record.v1.json: %w", err)
	}
	s, err := c.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schema: compile record.v1.json: %w", err)
	}
	return &Validator{schema: s}, nil
}

// Validate checks one JSON-encoded record.
func (v *Validator) Validate(record []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(record))
	if err != nil {
		return fmt.Errorf("schema: decode record: %w", err)
	}
	if err := v.schema.Validate(inst); err != nil {
		return fmt.Errorf("schema: record does not match record.v1.json: %w", err)
	}
	return nil
}
