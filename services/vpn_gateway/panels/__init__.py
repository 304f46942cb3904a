"""Everything that speaks to a VPN panel: one interface (base.py), the HTTP core every client
shares (http.py) and one thin client per panel, written against that panel's API spec."""
