# Proposed by microseg discover: 6 segments, 1 network, 6 services, 7 allows.
# Flows observed from 2026-03-01T10:00:07Z to 2026-03-01T10:03:02Z.
# Coverage: the allows permit 50 of 50 accepted flows observed (100.00%).
# Every segment is in audit mode: review the proposal, tag the members, then set mode = "enforce".

network "internet" {
  cidrs = ["0.0.0.0/0", "::/0"]
}

service "dns" {
  ports = ["tcp/53", "udp/53"]
}

service "http-alt" {
  ports = ["tcp/8080"]
}

service "https" {
  ports = ["tcp/443"]
}

service "icmp-echo" {
  ports = ["icmp/8"]
}

service "postgres" {
  ports = ["tcp/5432"]
}

service "tcp-9000" {
  ports = ["tcp/9000"]
}

segment "net-10-0-0-0-24" {
  target = target.gcp.prod
  members {
    labels = { microseg-segment = "net-10-0-0-0-24" }
  }
  cidrs = ["10.0.0.2/32"]
  mode  = "audit"
}

segment "net-10-20-0-0-24" {
  target = target.gcp.prod
  members {
    labels = { microseg-segment = "net-10-20-0-0-24" }
  }
  cidrs = ["10.20.0.11/32", "10.20.0.12/32"]
  mode  = "audit"
}

segment "net-10-20-1-0-24" {
  target = target.gcp.prod
  members {
    labels = { microseg-segment = "net-10-20-1-0-24" }
  }
  cidrs = ["10.20.1.10/32"]
  mode  = "audit"
}

segment "net-10-30-0-0-24" {
  target = target.gcp.prod
  members {
    labels = { microseg-segment = "net-10-30-0-0-24" }
  }
  cidrs = ["10.30.0.20/31"]
  mode  = "audit"
}

segment "shop-lb" {
  target = target.gcp.prod
  members {
    labels = { app = "shop", role = "lb" }
  }
  cidrs  = ["10.10.0.5/32"]
  labels = { app = "shop", role = "lb" }
  mode   = "audit"
}

segment "shop-web" {
  target = target.gcp.prod
  members {
    labels = { app = "shop", tier = "web" }
  }
  cidrs  = ["10.10.1.10/31", "10.10.2.10/32"]
  labels = { app = "shop", tier = "web" }
  mode   = "audit"
}

allow "internet-to-shop-lb" {
  from        = [network.internet]
  to          = [segment.shop-lb]
  services    = [service.https]
  description = "Discovered: 8 flows, 18400 bytes, first 2026-03-01T10:00:07Z, last 2026-03-01T10:00:28Z"
}

allow "net-10-20-1-0-24-to-net-10-30-0-0-24" {
  from        = [segment.net-10-20-1-0-24]
  to          = [segment.net-10-30-0-0-24]
  services    = [service.icmp-echo]
  description = "Discovered: 2 flows, 168 bytes, first 2026-03-01T10:02:55Z, last 2026-03-01T10:03:02Z"
}

allow "net-10-30-0-0-24-to-net-10-0-0-0-24" {
  from        = [segment.net-10-30-0-0-24]
  to          = [segment.net-10-0-0-0-24]
  services    = [service.dns]
  description = "Discovered: 2 flows, 4600 bytes, first 2026-03-01T10:02:48Z, last 2026-03-01T10:02:48Z"
}

allow "net-10-30-0-0-24-to-net-10-20-0-0-24" {
  from        = [segment.net-10-30-0-0-24]
  to          = [segment.net-10-20-0-0-24]
  services    = [service.postgres]
  description = "Discovered: 8 flows, 18400 bytes, first 2026-03-01T10:02:20Z, last 2026-03-01T10:02:41Z"
}

allow "shop-lb-to-shop-web" {
  from        = [segment.shop-lb]
  to          = [segment.shop-web]
  services    = [service.http-alt]
  description = "Discovered: 12 flows, 27600 bytes, first 2026-03-01T10:00:35Z, last 2026-03-01T10:01:52Z"
}

allow "shop-web-to-net-10-0-0-0-24" {
  from        = [segment.shop-web]
  to          = [segment.net-10-0-0-0-24]
  services    = [service.dns]
  description = "Discovered: 6 flows, 13800 bytes, first 2026-03-01T10:01:03Z, last 2026-03-01T10:02:13Z"
}

allow "shop-web-to-net-10-30-0-0-24" {
  from        = [segment.shop-web]
  to          = [segment.net-10-30-0-0-24]
  services    = [service.tcp-9000]
  description = "Discovered: 12 flows, 27600 bytes, first 2026-03-01T10:00:49Z, last 2026-03-01T10:02:06Z"
}
