package configtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/open-telemetry/opentelemetry-collector-contrib/exporter/fileexporter"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/contexts/ottllog"
	"github.com/open-telemetry/opentelemetry-collector-contrib/pkg/ottl/ottlfuncs"
	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/resourceprocessor"
	"github.com/open-telemetry/opentelemetry-collector-contrib/receiver/kafkareceiver"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/exporter"
	"go.opentelemetry.io/collector/otelcol"
	"go.opentelemetry.io/collector/otelcol/otelcoltest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pipeline"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/batchprocessor"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
)

// The configurations under test, next to this module.
const (
	toFileYAML        = "../scimtrail-to-file.yaml"
	splunkYAML        = "../splunk-hec.yaml"
	elasticsearchYAML = "../elasticsearch.yaml"
)

// Component types the configurations use whose modules are not available at
// this module's Collector release: they are registered as placeholders (see
// asWritten).
var placeholderTypes = []string{"transform", "splunk_hec", "elasticsearch"}

// factories returns exactly the components the three configurations use:
// the real ones where this release has them, placeholders otherwise.
func factories(t *testing.T) otelcol.Factories {
	t.Helper()
	receivers, err := otelcol.MakeFactoryMap(otlpreceiver.NewFactory(), kafkareceiver.NewFactory())
	if err != nil {
		t.Fatal(err)
	}
	processors, err := otelcol.MakeFactoryMap(
		batchprocessor.NewFactory(),
		resourceprocessor.NewFactory(),
		placeholderProcessor("transform"),
	)
	if err != nil {
		t.Fatal(err)
	}
	exporters, err := otelcol.MakeFactoryMap(
		fileexporter.NewFactory(),
		placeholderExporter("splunk_hec"),
		placeholderExporter("elasticsearch"),
	)
	if err != nil {
		t.Fatal(err)
	}
	return otelcol.Factories{Receivers: receivers, Processors: processors, Exporters: exporters}
}

// asWritten is the config of a placeholder component: the section exactly
// as the file has it after environment substitution. It accepts any keys,
// so a placeholder proves only that the section is there and that the rest
// of the file loads around it; the tests read the values they rely on.
type asWritten struct {
	raw map[string]any
}

// Unmarshal keeps the section as written; confmap calls it in place of its
// strict decoding.
func (a *asWritten) Unmarshal(conf *confmap.Conf) error {
	a.raw = conf.ToStringMap()
	return nil
}

var errPlaceholder = errors.New("placeholder component: configuration checks only, it cannot run")

func placeholderProcessor(typ string) processor.Factory {
	return processor.NewFactory(component.MustNewType(typ),
		func() component.Config { return &asWritten{} },
		processor.WithLogs(func(context.Context, processor.Settings, component.Config, consumer.Logs) (processor.Logs, error) {
			return nil, errPlaceholder
		}, component.StabilityLevelDevelopment))
}

func placeholderExporter(typ string) exporter.Factory {
	return exporter.NewFactory(component.MustNewType(typ),
		func() component.Config { return &asWritten{} },
		exporter.WithLogs(func(context.Context, exporter.Settings, component.Config) (exporter.Logs, error) {
			return nil, errPlaceholder
		}, component.StabilityLevelDevelopment))
}

// load runs the Collector's own loading and validation on file.
func load(t *testing.T, file string) *otelcol.Config {
	t.Helper()
	cfg, err := otelcoltest.LoadConfigAndValidate(file, factories(t))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return cfg
}

// unsetEnv removes name for this test and restores it afterwards, so a
// "${env:NAME:-default}" default is what the test sees.
func unsetEnv(t *testing.T, name string) {
	t.Helper()
	t.Setenv(name, "") // records the old value for the cleanup
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

// pipelineShape is one pipeline's components, by name, in config order.
type pipelineShape struct {
	Receivers, Processors, Exporters []string
}

func shapes(cfg *otelcol.Config) map[string]pipelineShape {
	ids := func(list []component.ID) []string {
		out := make([]string, 0, len(list))
		for _, id := range list {
			out = append(out, id.String())
		}
		return out
	}
	out := map[string]pipelineShape{}
	for id, p := range cfg.Service.Pipelines {
		out[id.String()] = pipelineShape{ids(p.Receivers), ids(p.Processors), ids(p.Exporters)}
	}
	return out
}

func checkPipelines(t *testing.T, cfg *otelcol.Config, want map[string]pipelineShape) {
	t.Helper()
	if got := shapes(cfg); !reflect.DeepEqual(got, want) {
		t.Errorf("pipelines:\n got  %+v\n want %+v", got, want)
	}
	for id := range cfg.Service.Pipelines {
		if id.Signal() != pipeline.SignalLogs {
			t.Errorf("pipeline %s: scimtrail sends logs only", id)
		}
	}
}

// componentConfig returns the config of component id ("type/name") as T.
func componentConfig[T any](t *testing.T, m map[component.ID]component.Config, id string) T {
	t.Helper()
	var want component.ID
	if err := want.UnmarshalText([]byte(id)); err != nil {
		t.Fatal(err)
	}
	c, ok := m[want]
	if !ok {
		t.Fatalf("no component %q", id)
	}
	typed, ok := c.(T)
	if !ok {
		t.Fatalf("component %q: config is %T", id, c)
	}
	return typed
}

// checkOTLPReceiver checks the ports scimtrail's --otlp-endpoint examples
// use: gRPC on 4317, HTTP (/v1/logs) on 4318, on all interfaces, so that a
// Collector on another host or in another container can be reached.
func checkOTLPReceiver(t *testing.T, cfg *otelcol.Config) {
	t.Helper()
	otlp := componentConfig[*otlpreceiver.Config](t, cfg.Receivers, "otlp")
	if !otlp.Protocols.GRPC.HasValue() || !otlp.Protocols.HTTP.HasValue() {
		t.Fatal("otlp receiver: want both grpc and http")
	}
	if got := otlp.Protocols.GRPC.Get().NetAddr.Endpoint; got != "0.0.0.0:4317" {
		t.Errorf("otlp grpc endpoint = %q, want 0.0.0.0:4317", got)
	}
	http := otlp.Protocols.HTTP.Get()
	if got := http.ServerConfig.NetAddr.Endpoint; got != "0.0.0.0:4318" {
		t.Errorf("otlp http endpoint = %q, want 0.0.0.0:4318", got)
	}
	if http.LogsURLPath != "/v1/logs" {
		t.Errorf("otlp http logs path = %q, want /v1/logs", http.LogsURLPath)
	}
}

func TestScimtrailToFile_LoadsAndValidates(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "kafka-1:9092,kafka-2:9092")
	t.Setenv("SCIMTRAIL_AUDIT_FILE", "/srv/audit/scimtrail.jsonl")
	cfg := load(t, toFileYAML)

	checkPipelines(t, cfg, map[string]pipelineShape{
		"logs/otlp":  {[]string{"otlp"}, []string{"batch"}, []string{"file"}},
		"logs/kafka": {[]string{"kafka"}, []string{}, []string{"file"}},
	})
	checkOTLPReceiver(t, cfg)

	kafka := componentConfig[*kafkareceiver.Config](t, cfg.Receivers, "kafka")
	if want := []string{"kafka-1:9092", "kafka-2:9092"}; !slices.Equal(kafka.ClientConfig.Brokers, want) {
		t.Errorf("kafka brokers = %q, want %q (KAFKA_BROKERS split at commas)", kafka.ClientConfig.Brokers, want)
	}
	// scimtrail's default topic and the encoding its otlp_proto sink writes.
	if !slices.Equal(kafka.Logs.Topics, []string{"scim-logs"}) {
		t.Errorf("kafka logs topics = %q, want [scim-logs]", kafka.Logs.Topics)
	}
	if kafka.Logs.Encoding != "otlp_proto" {
		t.Errorf("kafka logs encoding = %q, want otlp_proto", kafka.Logs.Encoding)
	}
	if kafka.ConsumerConfig.GroupID != "scimtrail-audit-file" || kafka.ConsumerConfig.InitialOffset != "earliest" {
		t.Errorf("kafka consumer: group %q from %q, want scimtrail-audit-file from earliest",
			kafka.ConsumerConfig.GroupID, kafka.ConsumerConfig.InitialOffset)
	}
	// At least once: offsets only after a successful write.
	if !kafka.MessageMarking.After || kafka.MessageMarking.OnError || kafka.MessageMarking.OnPermanentError {
		t.Errorf("kafka message_marking = %+v, want after the pipeline and never on error", kafka.MessageMarking)
	}

	file := componentConfig[*fileexporter.Config](t, cfg.Exporters, "file")
	if file.Path != "/srv/audit/scimtrail.jsonl" {
		t.Errorf("file path = %q, want SCIMTRAIL_AUDIT_FILE", file.Path)
	}
	if file.FormatType != "json" {
		t.Errorf("file format = %q, want json (lines)", file.FormatType)
	}
	// Rotation also means: appended to, never truncated on restart.
	if file.Rotation == nil || file.Rotation.MaxMegabytes != 100 || file.Rotation.MaxBackups != 100 || file.Rotation.MaxDays != 90 {
		t.Errorf("file rotation = %+v, want 100 MB, 100 backups, 90 days", file.Rotation)
	}
	if file.Append {
		t.Error("file append: cannot be combined with rotation")
	}

	batch := cfg.Processors[component.MustNewID("batch")]
	if batch == nil {
		t.Fatal("no batch processor")
	}
}

func TestScimtrailToFile_EnvDefaults(t *testing.T) {
	unsetEnv(t, "KAFKA_BROKERS")
	unsetEnv(t, "SCIMTRAIL_AUDIT_FILE")
	cfg := load(t, toFileYAML)

	kafka := componentConfig[*kafkareceiver.Config](t, cfg.Receivers, "kafka")
	if want := []string{"127.0.0.1:9092"}; !slices.Equal(kafka.ClientConfig.Brokers, want) {
		t.Errorf("kafka brokers = %q, want the default %q", kafka.ClientConfig.Brokers, want)
	}
	file := componentConfig[*fileexporter.Config](t, cfg.Exporters, "file")
	if file.Path != "/var/lib/otelcol/scimtrail/audit.jsonl" {
		t.Errorf("file path = %q, want the default", file.Path)
	}
}

func TestSplunkHEC_LoadsAndValidates(t *testing.T) {
	t.Setenv("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088/services/collector")
	t.Setenv("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000")
	t.Setenv("SPLUNK_INDEX", "scim_audit")
	cfg := load(t, splunkYAML)

	checkPipelines(t, cfg, map[string]pipelineShape{
		"logs": {[]string{"otlp"}, []string{"transform/splunk_body", "batch"}, []string{"splunk_hec"}},
	})
	checkOTLPReceiver(t, cfg)

	hec := componentConfig[*asWritten](t, cfg.Exporters, "splunk_hec").raw
	want := map[string]any{
		"endpoint":   "https://splunk.example.com:8088/services/collector",
		"token":      "00000000-0000-0000-0000-000000000000",
		"index":      "scim_audit",
		"source":     "scimtrail",
		"sourcetype": "scimtrail:audit",
	}
	if !reflect.DeepEqual(hec, want) {
		t.Errorf("splunk_hec section =\n %v\nwant\n %v", hec, want)
	}

	// The statements parse with the OTTL the transform processor uses.
	splunkBodyStatements(t, cfg)
}

func TestSplunkHEC_IndexDefaultsToTheTokens(t *testing.T) {
	t.Setenv("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088")
	t.Setenv("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000")
	unsetEnv(t, "SPLUNK_INDEX")
	cfg := load(t, splunkYAML)

	hec := componentConfig[*asWritten](t, cfg.Exporters, "splunk_hec").raw
	// Empty: the HEC event carries no index, and Splunk uses the token's.
	if got, ok := hec["index"]; !ok || got != "" {
		t.Errorf("splunk_hec index = %#v (set: %v), want the empty string", got, ok)
	}
}

// splunkBodyStatements parses the transform/splunk_body statements the way
// the transform processor does for the log context (context names on).
func splunkBodyStatements(t *testing.T, cfg *otelcol.Config) ottl.StatementSequence[*ottllog.TransformContext] {
	t.Helper()
	tr := componentConfig[*asWritten](t, cfg.Processors, "transform/splunk_body").raw
	if tr["error_mode"] != "ignore" {
		t.Errorf("transform error_mode = %v, want ignore: a statement error must not drop the batch", tr["error_mode"])
	}
	groups, _ := tr["log_statements"].([]any)
	if len(groups) != 1 {
		t.Fatalf("transform log_statements = %#v, want one group", tr["log_statements"])
	}
	group, _ := groups[0].(map[string]any)
	if group["context"] != "log" {
		t.Errorf("transform context = %v, want log", group["context"])
	}
	var statements []string
	list, _ := group["statements"].([]any)
	for _, s := range list {
		str, ok := s.(string)
		if !ok {
			t.Fatalf("transform statement %#v is not a string", s)
		}
		statements = append(statements, str)
	}
	if len(statements) == 0 {
		t.Fatal("transform: no statements")
	}

	settings := componenttest.NewNopTelemetrySettings()
	parser, err := ottllog.NewParser(ottlfuncs.StandardFuncs[*ottllog.TransformContext](), settings, ottllog.EnablePathContextNames())
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := parser.ParseStatements(statements)
	if err != nil {
		t.Fatalf("transform statements do not parse: %v", err)
	}
	return ottllog.NewStatementSequence(parsed, settings, ottllog.WithStatementSequenceErrorMode(ottl.PropagateError))
}

// TestSplunkHEC_RecordWithoutBodyStillReachesSplunk runs the transform
// statements on log records shaped as scimtrail's OTLP mapping makes them
// (schema.AppendLogRecords: the body is the request body, left empty when
// the request had none; the event name is "scim." + the first event, else
// "scim.request"). The splunk_hec exporter drops a log record with an empty
// body, so a DELETE, which has none, must leave the processor with one, and
// a record with a request body must keep it unchanged.
func TestSplunkHEC_RecordWithoutBodyStillReachesSplunk(t *testing.T) {
	t.Setenv("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088")
	t.Setenv("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000")
	seq := splunkBodyStatements(t, load(t, splunkYAML))

	const created = `{"userName":"bob@example.com","password":"[REDACTED]"}`
	for _, tc := range []struct {
		name, eventName, outcome string
		body                     func(pcommon.Value) // nil: no body at all
		want                     string
	}{
		{name: "DELETE without a body", eventName: "scim.user.deleted", outcome: "SUCCESS",
			want: "scim.user.deleted"},
		{name: "failed GET without a body or an event", eventName: "scim.request", outcome: "ERROR",
			want: "scim.request"},
		{name: "empty string body from another producer", eventName: "scim.user.deleted", outcome: "SUCCESS",
			body: func(v pcommon.Value) { v.SetStr("") }, want: "scim.user.deleted"},
		{name: "POST with a request body", eventName: "scim.user.created", outcome: "SUCCESS",
			body: func(v pcommon.Value) { v.SetStr(created) }, want: created},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ld := plog.NewLogs()
			rl := ld.ResourceLogs().AppendEmpty()
			rl.Resource().Attributes().PutStr("service.name", "scimtrail")
			sl := rl.ScopeLogs().AppendEmpty()
			lr := sl.LogRecords().AppendEmpty()
			lr.SetEventName(tc.eventName)
			lr.Attributes().PutStr("scim.outcome", tc.outcome)
			if tc.body != nil {
				tc.body(lr.Body())
			}

			tCtx := ottllog.NewTransformContext(rl, sl, lr)
			err := seq.Execute(t.Context(), tCtx)
			tCtx.Close()
			if err != nil {
				t.Fatal(err)
			}
			if got := lr.Body().AsString(); got != tc.want {
				t.Errorf("body = %q, want %q", got, tc.want)
			}
			// What Splunk indexes the record by is untouched.
			if v, ok := lr.Attributes().Get("scim.outcome"); !ok || v.Str() != tc.outcome || lr.Attributes().Len() != 1 {
				t.Errorf("attributes changed: %v", lr.Attributes().AsRaw())
			}
		})
	}
}

func TestElasticsearch_LoadsAndValidates(t *testing.T) {
	t.Setenv("ELASTICSEARCH_ENDPOINT", "https://elasticsearch.example.com:9200")
	t.Setenv("ELASTICSEARCH_API_KEY", "a2V5LWlkOmtleS1zZWNyZXQ=")
	t.Setenv("ELASTICSEARCH_USER", "scimtrail_writer")
	t.Setenv("ELASTICSEARCH_PASSWORD", "not-a-real-password")
	t.Setenv("ELASTICSEARCH_NAMESPACE", "prod")
	cfg := load(t, elasticsearchYAML)

	checkPipelines(t, cfg, map[string]pipelineShape{
		"logs": {[]string{"otlp"}, []string{"resource/scimtrail_data_stream", "batch"}, []string{"elasticsearch"}},
	})
	checkOTLPReceiver(t, cfg)

	es := componentConfig[*asWritten](t, cfg.Exporters, "elasticsearch").raw
	want := map[string]any{
		"endpoint": "https://elasticsearch.example.com:9200",
		"api_key":  "a2V5LWlkOmtleS1zZWNyZXQ=",
		"user":     "scimtrail_writer",
		"password": "not-a-real-password",
	}
	if !reflect.DeepEqual(es, want) {
		t.Errorf("elasticsearch section =\n %v\nwant\n %v", es, want)
	}
	// Routing is by data_stream.* attributes (the exporter's default), not a
	// fixed index, and the mapping mode is left to its default ("otel").
	for _, key := range []string{"logs_index", "index", "mapping"} {
		if _, set := es[key]; set {
			t.Errorf("elasticsearch %s is set: routing and mapping are meant to be the exporter's defaults", key)
		}
	}

	res := componentConfig[*resourceprocessor.Config](t, cfg.Processors, "resource/scimtrail_data_stream")
	got := map[string]string{}
	for _, a := range res.AttributesActions {
		if a.Action != "upsert" {
			t.Errorf("resource %s: action %q, want upsert", a.Key, a.Action)
		}
		got[a.Key] = fmt.Sprint(a.Value)
	}
	// The exporter routes to logs-<dataset>.otel-<namespace>.
	if want := map[string]string{"data_stream.dataset": "scimtrail.audit", "data_stream.namespace": "prod"}; !reflect.DeepEqual(got, want) {
		t.Errorf("resource attributes = %v, want %v", got, want)
	}
}

func TestElasticsearch_EnvDefaults(t *testing.T) {
	t.Setenv("ELASTICSEARCH_ENDPOINT", "https://elasticsearch.example.com:9200")
	for _, name := range []string{"ELASTICSEARCH_API_KEY", "ELASTICSEARCH_USER", "ELASTICSEARCH_PASSWORD", "ELASTICSEARCH_NAMESPACE"} {
		unsetEnv(t, name)
	}
	cfg := load(t, elasticsearchYAML)

	es := componentConfig[*asWritten](t, cfg.Exporters, "elasticsearch").raw
	for _, key := range []string{"api_key", "user", "password"} {
		if es[key] != "" {
			t.Errorf("elasticsearch %s = %#v, want the empty string when its variable is unset", key, es[key])
		}
	}
	res := componentConfig[*resourceprocessor.Config](t, cfg.Processors, "resource/scimtrail_data_stream")
	for _, a := range res.AttributesActions {
		if a.Key == "data_stream.namespace" && a.Value != "default" {
			t.Errorf("data_stream.namespace = %v, want default", a.Value)
		}
	}
}

// TestConfigs_NoSecretsInFiles keeps credentials out of the files: every
// value that authenticates comes from the environment.
func TestConfigs_NoSecretsInFiles(t *testing.T) {
	for file, keys := range map[string][]string{
		splunkYAML:        {"token:"},
		elasticsearchYAML: {"api_key:", "user:", "password:"},
	} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			trimmed := strings.TrimSpace(line)
			for _, key := range keys {
				if strings.HasPrefix(trimmed, key) && !strings.HasPrefix(strings.TrimSpace(strings.TrimPrefix(trimmed, key)), "${env:") {
					t.Errorf("%s: %q is not taken from the environment", file, trimmed)
				}
			}
		}
	}
}

// TestLoader_RejectsBrokenCopies proves the loading above validates: copies
// of the files with one mistake each must fail, with the Collector's word
// for what is wrong.
func TestLoader_RejectsBrokenCopies(t *testing.T) {
	t.Setenv("KAFKA_BROKERS", "kafka-1:9092")
	t.Setenv("SPLUNK_HEC_ENDPOINT", "https://splunk.example.com:8088")
	t.Setenv("SPLUNK_HEC_TOKEN", "00000000-0000-0000-0000-000000000000")
	t.Setenv("ELASTICSEARCH_ENDPOINT", "https://elasticsearch.example.com:9200")

	for _, tc := range []struct {
		name, file, old, new string
		wantErr              []string // substrings of the error
	}{
		{
			name: "misspelled kafka key", file: toFileYAML,
			old: "initial_offset: earliest", new: "initial_ofset: earliest",
			wantErr: []string{"kafka", "initial_ofset"},
		},
		{
			name: "misspelled file rotation key", file: toFileYAML,
			old: "max_megabytes: 100", new: "max_megabyte: 100",
			wantErr: []string{"file", "max_megabyte"},
		},
		{
			name: "file format the exporter does not write", file: toFileYAML,
			old: "format: json", new: "format: yaml",
			wantErr: []string{"file", "format type is not supported"},
		},
		{
			name: "pipeline names an undefined processor", file: toFileYAML,
			old: "processors: [batch]", new: "processors: [batch/audit]",
			wantErr: []string{"batch/audit"},
		},
		{
			name: "unknown otlp http key", file: splunkYAML,
			old: "      http:\n        endpoint: 0.0.0.0:4318", new: "      http:\n        endpoint: 0.0.0.0:4318\n        cors_origins: []",
			wantErr: []string{"otlp", "cors_origins"},
		},
		{
			name: "misspelled resource processor key", file: elasticsearchYAML,
			old: "action: upsert", new: "acton: upsert",
			wantErr: []string{"resource/scimtrail_data_stream", "acton"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.old) {
				t.Fatalf("%s no longer contains %q; update the case", tc.file, tc.old)
			}
			broken := filepath.Join(t.TempDir(), filepath.Base(tc.file))
			if err := os.WriteFile(broken, []byte(strings.Replace(string(b), tc.old, tc.new, 1)), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err = otelcoltest.LoadConfigAndValidate(broken, factories(t))
			if err == nil {
				t.Fatal("loaded without error")
			}
			t.Logf("rejected: %v", err)
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

// TestFactories_PlaceholdersAreTheOnlyStandIns keeps the list of components
// not checked by their own code short and named: any other type in the
// files must be a real factory.
func TestFactories_PlaceholdersAreTheOnlyStandIns(t *testing.T) {
	f := factories(t)
	var got []string
	for typ, fac := range f.Processors {
		if _, ok := fac.CreateDefaultConfig().(*asWritten); ok {
			got = append(got, typ.String())
		}
	}
	for typ, fac := range f.Exporters {
		if _, ok := fac.CreateDefaultConfig().(*asWritten); ok {
			got = append(got, typ.String())
		}
	}
	slices.Sort(got)
	want := slices.Clone(placeholderTypes)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("placeholders = %v, want %v", got, want)
	}
}
