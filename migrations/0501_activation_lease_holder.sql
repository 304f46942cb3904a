-- Which gateway process holds an activation's lease ("host:pid"), issue 15. With gateways on
-- several hosts, a gateway starting up may free only the leases of its own host's dead
-- processes; a lease of another host's gateway runs out by itself (vpn_lease_seconds).
ALTER TABLE activations ADD COLUMN leased_by text;
