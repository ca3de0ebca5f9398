module github.com/eventtarget/eventtarget/deploy/bench

go 1.26.8

require github.com/eventtarget/eventtarget/platform v0.0.0

replace github.com/eventtarget/eventtarget/platform => ../../platform
