package exporter

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Drop reasons, the values of the "reason" label of
// scimtrail_records_dropped_total.
const (
	ReasonQueueFull      = "queue_full"
	ReasonPermanentError = "permanent_error"
	ReasonShutdown       = "shutdown"
)

// QueueMetrics are the Prometheus metrics of one or more Queues, told apart
// by the "sink" label (QueueOptions.Name). Make one with NewQueueMetrics and
// share it between queues. A nil *QueueMetrics records nothing. Safe for
// concurrent use.
type QueueMetrics struct {
	exported     *prometheus.CounterVec
	dropped      *prometheus.CounterVec
	exportErrors *prometheus.CounterVec
	depth        *depthCollector
}

// NewQueueMetrics makes the queue metrics and registers them with reg:
//
//	scimtrail_sink_queue_depth{sink}                  gauge: records accepted, not yet exported or dropped
//	scimtrail_records_exported_total{sink}            counter
//	scimtrail_records_dropped_total{sink,reason}      counter; reason is queue_full, permanent_error or shutdown
//	scimtrail_sink_export_errors_total{sink}          counter: failed Export calls, retried or not
//
// A nil reg registers nothing (the metrics still count). It panics, like
// prometheus.MustRegister, when reg already holds these metrics: call it
// once per registry.
func NewQueueMetrics(reg prometheus.Registerer) *QueueMetrics {
	m := &QueueMetrics{
		exported: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_records_exported_total",
			Help: "Records a sink accepted.",
		}, []string{"sink"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_records_dropped_total",
			Help: "Records dropped before a sink accepted them, by reason (queue_full, permanent_error, shutdown).",
		}, []string{"sink", "reason"}),
		exportErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_export_errors_total",
			Help: "Failed sink Export calls, retried or not.",
		}, []string{"sink"}),
		depth: &depthCollector{
			desc: prometheus.NewDesc("scimtrail_sink_queue_depth",
				"Records accepted by a sink's queue and not yet exported or dropped.",
				[]string{"sink"}, nil),
			queues: map[*Queue]struct{}{},
		},
	}
	if reg != nil {
		reg.MustRegister(m.exported, m.dropped, m.exportErrors, m.depth)
	}
	return m
}

func (m *QueueMetrics) addExported(sink string, n int) {
	if m != nil && n > 0 {
		m.exported.WithLabelValues(sink).Add(float64(n))
	}
}

func (m *QueueMetrics) addDropped(sink, reason string, n int) {
	if m != nil && n > 0 {
		m.dropped.WithLabelValues(sink, reason).Add(float64(n))
	}
}

func (m *QueueMetrics) incExportErrors(sink string) {
	if m != nil {
		m.exportErrors.WithLabelValues(sink).Inc()
	}
}

// track makes q's depth visible from now on. Depth is read from the queue
// at scrape time rather than kept in a gauge, so it can never drift.
func (m *QueueMetrics) track(q *Queue) {
	if m == nil {
		return
	}
	m.depth.mu.Lock()
	m.depth.queues[q] = struct{}{}
	m.depth.mu.Unlock()
}

// depthCollector reports scimtrail_sink_queue_depth for every tracked
// queue, summing queues that share a name.
type depthCollector struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	queues map[*Queue]struct{}
}

func (c *depthCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *depthCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	byName := make(map[string]int, len(c.queues))
	for q := range c.queues {
		byName[q.name] += q.Len()
	}
	c.mu.Unlock()
	for name, n := range byName {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), name)
	}
}

// untrack forgets q, so a shut-down queue and its buffer can be collected.
func (m *QueueMetrics) untrack(q *Queue) {
	if m == nil {
		return
	}
	m.depth.mu.Lock()
	delete(m.depth.queues, q)
	m.depth.mu.Unlock()
}
