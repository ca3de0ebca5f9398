package chstore

// NewLegacyTransport lets the external tests drive the shim directly.
var NewLegacyTransport = newLegacyTransport
