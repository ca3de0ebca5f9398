package kafka

import "testing"

func TestFetchMaxBytes(t *testing.T) {
	if opts := FetchMaxBytes(0); opts != nil {
		t.Errorf("FetchMaxBytes(0) = %d options, want none (the client's defaults)", len(opts))
	}
	if opts := FetchMaxBytes(DefaultFetchMaxBytes); len(opts) != 2 {
		t.Errorf("FetchMaxBytes(%d) = %d options, want the response and partition bounds", DefaultFetchMaxBytes, len(opts))
	}
	for _, n := range []int{0, MinFetchMaxBytes, DefaultFetchMaxBytes, 1 << 30} {
		if err := ValidateFetchMaxBytes(n); err != nil {
			t.Errorf("ValidateFetchMaxBytes(%d): %v", n, err)
		}
	}
	for _, n := range []int{-1, 1, MinFetchMaxBytes - 1, 1<<30 + 1} {
		if err := ValidateFetchMaxBytes(n); err == nil {
			t.Errorf("ValidateFetchMaxBytes(%d) accepted", n)
		}
	}
}
