package schema_test

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/scimtrail/scimtrail/schema"
)

func validRecord() schema.Record {
	active := false
	return schema.Record{
		ID:             "01936f3e-8b7a-7cc4-9c39-5b8e2f6f2a10",
		Timestamp:      time.Date(2026, 11, 27, 13, 30, 0, 0, time.UTC),
		IdPName:        "okta",
		Action:         "PATCH",
		ResourceType:   schema.ResourceGroup,
		GroupName:      "Engineering",
		ResourceID:     "g-1",
		IdPResourceID:  "00g1",
		Outcome:        schema.OutcomeSuccess,
		StatusCode:     204,
		DurationMS:     1.25,
		Path:           "/scim/v2/Groups/g-1",
		Active:         &active,
		MembersAdded:   []string{"u-1"},
		MembersRemoved: []string{"u-2"},
		Changes:        []schema.Change{{Op: "replace", Attribute: "displayName", Old: json.RawMessage(`"Eng"`), New: json.RawMessage(`"Engineering"`)}},
		Events:         []string{"group.member_added", "group.member_removed"},
		Notes:          []string{"n"},
	}
}

func TestRecordV1_SchemaListsEveryKey(t *testing.T) {
	var props struct {
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(schema.RecordV1, &props); err != nil {
		t.Fatal(err)
	}
	var keys []string
	rt := reflect.TypeFor[schema.Record]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		keys = append(keys, name)
		if _, ok := props.Properties[name]; !ok {
			t.Errorf("Record key %q is missing from record.v1.json", name)
		}
	}
	for name := range props.Properties {
		if !slices.Contains(keys, name) {
			t.Errorf("record.v1.json lists %q, which Record does not have", name)
		}
	}
}

// TestRecordV1_SchemaListsEveryChangeKey: the change items forbid unknown
// keys, so a Change field the schema does not list would make every record
// carrying it invalid.
func TestRecordV1_SchemaListsEveryChangeKey(t *testing.T) {
	var doc struct {
		Properties struct {
			Changes struct {
				Items struct {
					Properties map[string]json.RawMessage `json:"properties"`
				} `json:"items"`
			} `json:"changes"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schema.RecordV1, &doc); err != nil {
		t.Fatal(err)
	}
	props := doc.Properties.Changes.Items.Properties
	rt := reflect.TypeFor[schema.Change]()
	for i := range rt.NumField() {
		name, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if _, ok := props[name]; !ok {
			t.Errorf("Change key %q is missing from record.v1.json", name)
		}
	}
	if len(props) != rt.NumField() {
		t.Errorf("record.v1.json lists %d change keys, Change has %d fields", len(props), rt.NumField())
	}
}

func TestValidator(t *testing.T) {
	v, err := schema.NewValidator()
	if err != nil {
		t.Fatal(err)
	}
	good, err := json.Marshal(validRecord())
	if err != nil {
		t.Fatal(err)
	}
	if err := v.Validate(good); err != nil {
		t.Fatalf("valid record refused: %v", err)
	}
	noOp := validRecord()
	noOp.ResourceType, noOp.UserDisplayName, noOp.NoOp = schema.ResourceUser, "Ann Smith", true
	noOp.Changes, noOp.Events, noOp.MembersAdded, noOp.MembersRemoved = nil, nil, nil, nil
	if b, _ := json.Marshal(noOp); v.Validate(b) != nil {
		t.Fatalf("no-op record refused: %v", v.Validate(b))
	}
	bad := map[string]func(r *schema.Record){
		"missing id":       func(r *schema.Record) { r.ID = "" },
		"outcome unknown":  func(r *schema.Record) { r.Outcome = "OK" },
		"resource type":    func(r *schema.Record) { r.ResourceType = "user" },
		"status code zero": func(r *schema.Record) { r.StatusCode = 0 },
		"unknown event":    func(r *schema.Record) { r.Events = []string{"user.exploded"} },
		"change op":        func(r *schema.Record) { r.Changes[0].Op = "Replace" },
		"not UTC":          func(r *schema.Record) { r.Timestamp = r.Timestamp.In(time.FixedZone("x", 3600)) },
	}
	for name, mutate := range bad {
		t.Run(name, func(t *testing.T) {
			r := validRecord()
			mutate(&r)
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			if err := v.Validate(b); err == nil {
				t.Fatalf("record accepted: %s", b)
			}
		})
	}
}
