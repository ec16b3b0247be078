package spool

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the spool's and its sinks' Prometheus metrics:
//
//	scimtrail_spool_records                          gauge: records held, not yet acknowledged by every sink
//	scimtrail_spool_bytes                            gauge: their encoded size
//	scimtrail_spool_max_bytes                        gauge: the size bound
//	scimtrail_spool_dropped_records_total{reason}    counter: full, write_error, closed, timeout, encode, corrupt
//	scimtrail_spool_fsync_duration_seconds           histogram
//	scimtrail_requests_refused_total                 counter: changes Admit refused (block policy)
//	scimtrail_sink_records_delivered_total{sink}     counter
//	scimtrail_sink_records_dead_lettered_total{sink} counter: refused for good, written to the dead-letter file
//	scimtrail_sink_retries_total{sink}               counter: failed Export calls that were retried
//	scimtrail_sink_export_duration_seconds{sink}     histogram: one Export call
//	scimtrail_sink_lag_records{sink}                 gauge: records the sink has not acknowledged
//	scimtrail_sink_oldest_unacked_age_seconds{sink}  gauge: how long the oldest of them has waited
//
// Gauges are read from the spool at scrape time, so they never drift.
type metrics struct {
	dropped        *prometheus.CounterVec
	refused        prometheus.Counter
	fsync          prometheus.Histogram
	delivered      *prometheus.CounterVec
	deadLettered   *prometheus.CounterVec
	retries        *prometheus.CounterVec
	exportDuration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer, s *Spool) *metrics {
	m := &metrics{
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_spool_dropped_records_total",
			Help: "Records not kept or removed before every sink had them, by reason: full (the spool's size bound), write_error, closed, timeout, encode, corrupt.",
		}, []string{"reason"}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scimtrail_requests_refused_total",
			Help: "Changes answered 503 without forwarding because the spool was full or failing (spool-full-policy block).",
		}),
		fsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "scimtrail_spool_fsync_duration_seconds",
			Help:    "Time of one fsync of the spool file.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_records_delivered_total",
			Help: "Records a sink accepted.",
		}, []string{"sink"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_records_dead_lettered_total",
			Help: "Records a sink refused for good, written to the dead-letter file.",
		}, []string{"sink"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scimtrail_sink_retries_total",
			Help: "Failed Export calls that were retried.",
		}, []string{"sink"}),
		exportDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "scimtrail_sink_export_duration_seconds",
			Help:    "Time of one Export call of a sink, failed or not.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}, []string{"sink"}),
	}
	for _, r := range []string{"full", "write_error", "closed"} {
		m.dropped.WithLabelValues(r) // present at 0, so alerts can rate() them
	}
	if reg != nil {
		reg.MustRegister(m.dropped, m.refused, m.fsync, m.delivered, m.deadLettered, m.retries, m.exportDuration, &stateCollector{s: s})
	}
	return m
}

var (
	descRecords  = prometheus.NewDesc("scimtrail_spool_records", "Records held, not yet acknowledged by every sink.", nil, nil)
	descBytes    = prometheus.NewDesc("scimtrail_spool_bytes", "Encoded size of the records held.", nil, nil)
	descMaxBytes = prometheus.NewDesc("scimtrail_spool_max_bytes", "The spool's size bound.", nil, nil)
	descLag      = prometheus.NewDesc("scimtrail_sink_lag_records", "Records a sink has not acknowledged.", []string{"sink"}, nil)
	descAge      = prometheus.NewDesc("scimtrail_sink_oldest_unacked_age_seconds", "How long the oldest record a sink has not acknowledged has waited; 0 when none.", []string{"sink"}, nil)
)

type stateCollector struct{ s *Spool }

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRecords, descBytes, descMaxBytes, descLag, descAge} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descRecords, prometheus.GaugeValue, float64(c.s.Len()))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(c.s.Bytes()))
	ch <- prometheus.MustNewConstMetric(descMaxBytes, prometheus.GaugeValue, float64(c.s.cfg.maxBytes()))
	for _, st := range c.s.Status() {
		ch <- prometheus.MustNewConstMetric(descLag, prometheus.GaugeValue, float64(st.Lag), st.Name)
		ch <- prometheus.MustNewConstMetric(descAge, prometheus.GaugeValue, st.OldestAge.Seconds(), st.Name)
	}
}
