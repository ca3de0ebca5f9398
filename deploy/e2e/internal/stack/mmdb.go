package stack

import (
	"net"
	"os"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// writeCityDB writes a GeoIP2-City database holding every place.
func writeCityDB(path string, places []Location) error {
	w, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoIP2-City", RecordSize: 28, IncludeReservedNetworks: true})
	if err != nil {
		return err
	}
	for _, p := range places {
		ip, bits := net.ParseIP(p.IP), 128
		if v4 := ip.To4(); v4 != nil {
			ip, bits = v4, 32 // the 4-byte form: a 16-byte IP with a 4-byte mask is a different network
		}
		n := &net.IPNet{IP: ip, Mask: net.CIDRMask(bits, bits)}
		err := w.Insert(n, mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(p.CountryISO), "names": mmdbtype.Map{"en": mmdbtype.String(p.CountryName)}},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(p.City)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(p.Lat), "longitude": mmdbtype.Float64(p.Lon)},
		})
		if err != nil {
			return err
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = w.WriteTo(f)
	return err
}
