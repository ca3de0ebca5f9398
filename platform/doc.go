// Package platform holds the few runtime helpers every Event Target service
// needs in the same form: flag-and-environment configuration, structured
// logging, Kafka topic provisioning and HTTP server lifecycle. Event types do
// not live here; they live in the schemas module.
package platform
