package geo_test

import (
	"net/netip"
	"testing"

	"github.com/eventtarget/eventtarget/enricher/internal/geo"
)

func TestIsPublic(t *testing.T) {
	for s, want := range map[string]bool{
		"81.2.69.142": true, "8.8.8.8": true, "2a00:1450:4009:81a::200e": true, "::ffff:81.2.69.142": true,
		"10.1.2.3": false, "172.31.255.255": false, "192.168.0.1": false, "127.0.0.1": false, "100.64.0.1": false,
		"169.254.1.1": false, "192.0.2.1": false, "198.51.100.7": false, "203.0.113.9": false, "198.18.0.1": false,
		"224.0.0.1": false, "255.255.255.255": false, "0.0.0.0": false, "::1": false, "::": false, "fe80::1": false,
		"fd00::1": false, "2001:db8::1": false, "ff02::1": false, "::ffff:10.0.0.1": false, "::ffff:127.0.0.1": false,
		"172.32.0.1": true, "100.128.0.1": true,
	} {
		if got := geo.IsPublic(netip.MustParseAddr(s)); got != want {
			t.Errorf("IsPublic(%s) = %v, want %v", s, got, want)
		}
	}
	if geo.IsPublic(netip.Addr{}) {
		t.Error("the zero address is public")
	}
}
