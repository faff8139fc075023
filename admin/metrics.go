package admin

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// collector is the one Prometheus collector of a Parley node: it reads the
// layers' Stats() snapshots when scraped, so nothing on the SIP path
// touches a metric.
type collector struct {
	a *Server
}

type desc struct {
	d *prometheus.Desc
	t prometheus.ValueType
}

func newDesc(name, help string, t prometheus.ValueType, labels ...string) desc {
	return desc{prometheus.NewDesc("parley_"+name, help, labels, nil), t}
}

const (
	c = prometheus.CounterValue
	g = prometheus.GaugeValue
)

// The metrics; descs are immutable values built once per collector.
type metricDescs struct {
	tpReceived, tpSent, tpDropped, tpStateless, tpKeepAlives, tpConnsOpen, tpConnsRejected, tpSendErrors, tpPanics desc
	txCreated, txRetrans, txTimeouts, txRejected, txTransportErrors, txStray, txLive, txLingering                  desc
	guardAdmitted, guardDropped, guardBans, guardBansActive, guardSources, guardUntracked                          desc
	stageEnded, registrations, users, up, uptime, requests, responses, unparsable                                  desc
	mediaStreams, mediaOpened, mediaOpenFailures, mediaPackets, mediaBytes, mediaDropped                           desc
	capMessages, capSkipped, capCalls, capBytes, capCapacity, capDropped, hepSent, hepDropped                      desc
}

func newMetricDescs() *metricDescs {
	return &metricDescs{
		tpReceived:        newDesc("sip_messages_received_total", "SIP messages received and handed up by the transport layer.", c),
		tpSent:            newDesc("sip_messages_sent_total", "SIP messages written by the transport layer.", c),
		tpDropped:         newDesc("sip_packets_dropped_total", "Packets and messages dropped by the transport layer, by reason.", c, "reason"),
		tpStateless:       newDesc("sip_stateless_errors_total", "4xx/5xx responses the transport layer answered itself (malformed requests).", c),
		tpKeepAlives:      newDesc("sip_keepalives_total", "CRLF and STUN keep-alives received.", c),
		tpConnsOpen:       newDesc("sip_connections_open", "Stream connections (TCP, TLS, WS, WSS) open now.", g),
		tpConnsRejected:   newDesc("sip_connections_rejected_total", "Stream connections refused by the limits or the abuse filter.", c),
		tpSendErrors:      newDesc("sip_send_errors_total", "Failed sends.", c),
		tpPanics:          newDesc("sip_handler_panics_total", "Messages whose handler panicked, by layer.", c, "layer"),
		txCreated:         newDesc("sip_transactions_created_total", "Transactions created, by kind.", c, "kind"),
		txRetrans:         newDesc("sip_retransmissions_total", "Retransmitted requests and responses absorbed by the transaction layer.", c),
		txTimeouts:        newDesc("sip_transaction_timeouts_total", "Transactions ended by timer B, F or H.", c),
		txRejected:        newDesc("sip_transactions_rejected_total", "Requests answered 503 by the transaction layer, by reason.", c, "reason"),
		txTransportErrors: newDesc("sip_transaction_transport_errors_total", "Transactions ended because a send failed.", c),
		txStray:           newDesc("sip_stray_messages_total", "Responses and ACKs that matched no transaction, by kind.", c, "kind"),
		txLive:            newDesc("sip_transactions_live", "Transactions alive now.", g),
		txLingering:       newDesc("sip_transactions_lingering", "Completed non-INVITE server transactions kept to answer retransmissions.", g),
		guardAdmitted:     newDesc("guard_packets_admitted_total", "Packets the abuse filter let through.", c),
		guardDropped:      newDesc("guard_dropped_total", "Packets and requests dropped by the abuse protection, by reason.", c, "reason"),
		guardBans:         newDesc("guard_bans_total", "Bans and lock-outs begun, by reason (auth = too many wrong digest answers).", c, "reason"),
		guardBansActive:   newDesc("guard_bans_active", "Bans and lock-outs in force now.", g),
		guardSources:      newDesc("guard_sources_tracked", "Source addresses tracked by the abuse protection now.", g),
		guardUntracked:    newDesc("guard_untracked_total", "Packets admitted uncounted because the source table was full.", c),
		requests:          newDesc("sip_requests_total", "SIP requests seen by the transport layer, by direction, transport and method.", c, "direction", "transport", "method"),
		responses:         newDesc("sip_responses_total", "SIP responses seen by the transport layer, by direction, transport and status code.", c, "direction", "transport", "code"),
		unparsable:        newDesc("sip_unknown_lines_total", "Messages whose first line is neither a request nor a status line.", c),
		stageEnded:        newDesc("sip_stage_requests_total", "Requests each stage of the server's chain ended (answered or routed).", c, "stage"),
		registrations:     newDesc("registrations", "Unexpired registered contacts (bindings).", g),
		users:             newDesc("users", "Accounts of the domain.", g),
		up:                newDesc("build_info", "Always 1; the version as a label.", g, "version"),
		uptime:            newDesc("uptime_seconds", "Seconds since the server started.", g),
		mediaStreams:      newDesc("media_streams", "Relayed media streams open now.", g),
		mediaOpened:       newDesc("media_streams_opened_total", "Relayed media streams opened.", c),
		mediaOpenFailures: newDesc("media_stream_open_failures_total", "Media streams that could not be opened (no ports, socket errors).", c),
		mediaPackets:      newDesc("media_packets_relayed_total", "RTP and RTCP packets forwarded by the relay.", c),
		mediaBytes:        newDesc("media_bytes_relayed_total", "Bytes forwarded by the relay.", c),
		mediaDropped:      newDesc("media_packets_dropped_total", "Media packets not forwarded, by reason.", c, "reason"),
		capMessages:       newDesc("capture_messages_total", "SIP messages kept by the capture ring.", c),
		capSkipped:        newDesc("capture_skipped_total", "SIP messages not kept, by reason.", c, "reason"),
		capCalls:          newDesc("capture_calls", "Calls (Call-IDs) held in the capture ring now.", g),
		capBytes:          newDesc("capture_bytes", "Bytes between the capture ring's tail and head now.", g),
		capCapacity:       newDesc("capture_capacity_bytes", "The capture ring's size.", g),
		capDropped:        newDesc("capture_calls_dropped_total", "Calls dropped from the capture ring to make room.", c),
		hepSent:           newDesc("hep_packets_sent_total", "HEP packets sent to the collector.", c),
		hepDropped:        newDesc("hep_packets_dropped_total", "HEP packets dropped (queue full or message too large).", c),
	}
}

// Describe sends nothing: the collector is unchecked, so its set of
// metrics may follow the configuration (no capture, no guard).
func (collector) Describe(chan<- *prometheus.Desc) {}

func (col collector) Collect(ch chan<- prometheus.Metric) {
	a := col.a
	m := a.metrics
	emit := func(d desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.d, d.t, v, labels...)
	}
	tp := a.srv.Transport().Stats()
	emit(m.tpReceived, float64(tp.Received))
	emit(m.tpSent, float64(tp.Sent))
	emit(m.tpDropped, float64(tp.Malformed), "malformed")
	emit(m.tpDropped, float64(tp.Dropped), "unusable")
	emit(m.tpDropped, float64(tp.Filtered), "filtered")
	emit(m.tpStateless, float64(tp.StatelessErrors))
	emit(m.tpKeepAlives, float64(tp.KeepAlives))
	emit(m.tpConnsOpen, float64(tp.ConnsOpen))
	emit(m.tpConnsRejected, float64(tp.ConnsRejected))
	emit(m.tpSendErrors, float64(tp.SendErrors))
	emit(m.tpPanics, float64(tp.HandlerPanics), "transport")
	tx := a.srv.Transactions().Stats()
	emit(m.txCreated, float64(tx.ServerTransactions), "server")
	emit(m.txCreated, float64(tx.ClientTransactions), "client")
	emit(m.txRetrans, float64(tx.Retransmissions))
	emit(m.txTimeouts, float64(tx.Timeouts))
	emit(m.txRejected, float64(tx.Rejected), "overload")
	emit(m.txRejected, float64(tx.OverLimit), "over_limit")
	emit(m.txTransportErrors, float64(tx.TransportErrors))
	emit(m.txStray, float64(tx.StrayResponses), "response")
	emit(m.txStray, float64(tx.StrayAcks), "ack")
	emit(m.txLive, float64(tx.Live))
	emit(m.txLingering, float64(tx.Lingering))
	emit(m.tpPanics, float64(tx.HandlerPanics), "transaction")
	if gd := a.srv.Guard(); gd != nil {
		gs := gd.Stats()
		emit(m.guardAdmitted, float64(gs.Admitted))
		emit(m.guardDropped, float64(gs.DroppedBanned), "banned")
		emit(m.guardDropped, float64(gs.DroppedDensity), "flood")
		emit(m.guardDropped, float64(gs.DroppedScanner), "scanner")
		emit(m.guardDropped, float64(gs.DroppedAuth), "auth_locked")
		emit(m.guardBans, float64(gs.BansDensity), "flood")
		emit(m.guardBans, float64(gs.BansAuth), "auth")
		emit(m.guardBans, float64(gs.BansOther), "other")
		emit(m.guardBansActive, float64(gs.BansActive))
		emit(m.guardSources, float64(gs.SourcesTracked))
		emit(m.guardUntracked, float64(gs.Untracked))
	}
	a.counter.each(func(dir, tp, method string, n uint64) { emit(m.requests, float64(n), dir, tp, method) },
		func(dir, tp, code string, n uint64) { emit(m.responses, float64(n), dir, tp, code) })
	emit(m.unparsable, float64(a.counter.other.Load()))
	for _, st := range a.srv.Stages() {
		emit(m.stageEnded, float64(st.Ended), st.Name)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if n, err := a.srv.Store().Count(ctx); err == nil {
		emit(m.registrations, float64(n))
	}
	cancel()
	emit(m.users, float64(len(a.users.list())))
	emit(m.up, 1, a.version)
	emit(m.uptime, a.now().Sub(a.srv.Started()).Seconds())
	if r := a.srv.MediaRelay(); r != nil {
		ms := r.Stats()
		emit(m.mediaStreams, float64(ms.Streams))
		emit(m.mediaOpened, float64(ms.Opened))
		emit(m.mediaOpenFailures, float64(ms.OpenFailures))
		emit(m.mediaPackets, float64(ms.Packets))
		emit(m.mediaBytes, float64(ms.Bytes))
		emit(m.mediaDropped, float64(ms.Dropped), "invalid_or_unroutable")
		emit(m.mediaDropped, float64(ms.Rejected), "wrong_source")
	}
	if a.capture != nil {
		cs := a.capture.Stats()
		emit(m.capMessages, float64(cs.Messages))
		emit(m.capSkipped, float64(cs.NoCallID), "no_call_id")
		emit(m.capSkipped, float64(cs.TooLarge), "too_large")
		emit(m.capSkipped, float64(cs.CallFull), "call_full")
		emit(m.capCalls, float64(cs.Calls))
		emit(m.capBytes, float64(cs.Bytes))
		emit(m.capCapacity, float64(cs.Capacity))
		emit(m.capDropped, float64(cs.CallsDropped))
	}
	if a.hep != nil {
		hs := a.hep.Stats()
		emit(m.hepSent, float64(hs.Sent))
		emit(m.hepDropped, float64(hs.Dropped))
	}
}

// metricsHandler serves /metrics from a registry of this server's own:
// the Parley collector, the Go runtime and the process.
func (a *Server) metricsHandler() http.Handler {
	a.metrics = newMetricDescs()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector{a}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
