module github.com/eventtarget/eventtarget/deploy/bench

go 1.26.8

require github.com/eventtarget/eventtarget/platform v0.0.0

require (
	github.com/klauspost/compress v1.20.4 // indirect
	github.com/molecule-man/go-brrr v1.3.1 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
	github.com/twmb/franz-go/pkg/kmsg v1.15.1 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
)

replace github.com/eventtarget/eventtarget/platform => ../../platform

require (
	github.com/eventtarget/eventtarget/schemas v0.0.0
	github.com/go-json-experiment/json v1.27.2
	github.com/google/pprof v0.0.0-20261105003125-4bf881d7fb0b
	github.com/google/uuid v1.6.0
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kadm v1.20.0
	github.com/valyala/fasthttp v1.79.0
)

replace github.com/eventtarget/eventtarget/schemas => ../../schemas
