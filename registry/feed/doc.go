// Package feed brings records to a registry from outside the proxy: a
// Kafka topic the proxies write to (a consumer group that commits offsets
// only after the registry has stored what it read), or a JSON-lines file
// such as a SIEM export. Replays are harmless: the registry stores a
// record id once.
package feed
