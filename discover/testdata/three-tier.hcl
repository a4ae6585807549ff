# Proposed by microseg discover: 6 segments, 1 network, 6 services, 7 allows.
# Flows observed from 2026-03-01T10:00:00Z to 2026-03-01T10:03:02Z.
# Coverage: the allows permit 50 of 51 accepted flows observed (98.04%).
#   Left out as noise: 1 flow on 1 edge seen fewer times than the minimum.
# Not dependencies, ignored: 1 flow dropped, 1 between public addresses, 0 to or from loopback, link-local or multicast.
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
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-0-0-0-24" }
  }
  cidrs = ["10.0.0.2/32"]
  mode  = "audit"
}

segment "net-10-10-0-0-24" {
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-10-0-0-24" }
  }
  cidrs = ["10.10.0.5/32"]
  mode  = "audit"
}

segment "net-10-10-1-0-24" {
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-10-1-0-24" }
  }
  cidrs = ["10.10.1.10/31", "10.10.2.10/32"]
  mode  = "audit"
}

segment "net-10-20-0-0-24" {
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-20-0-0-24" }
  }
  cidrs = ["10.20.0.11/32", "10.20.0.12/32"]
  mode  = "audit"
}

segment "net-10-20-1-0-24" {
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-20-1-0-24" }
  }
  cidrs = ["10.20.1.10/32"]
  mode  = "audit"
}

segment "net-10-30-0-0-24" {
  target = target.aws.prod
  members {
    tags = { microseg-segment = "net-10-30-0-0-24" }
  }
  cidrs = ["10.30.0.20/31"]
  mode  = "audit"
}

allow "internet-to-net-10-10-0-0-24" {
  from        = [network.internet]
  to          = [segment.net-10-10-0-0-24]
  services    = [service.https]
  description = "Discovered: 8 flows, 18400 bytes, first 2026-03-01T10:00:07Z, last 2026-03-01T10:00:28Z"
}

allow "net-10-10-0-0-24-to-net-10-10-1-0-24" {
  from        = [segment.net-10-10-0-0-24]
  to          = [segment.net-10-10-1-0-24]
  services    = [service.http-alt]
  description = "Discovered: 12 flows, 27600 bytes, first 2026-03-01T10:00:35Z, last 2026-03-01T10:01:52Z"
}

allow "net-10-10-1-0-24-to-net-10-0-0-0-24" {
  from        = [segment.net-10-10-1-0-24]
  to          = [segment.net-10-0-0-0-24]
  services    = [service.dns]
  description = "Discovered: 6 flows, 13800 bytes, first 2026-03-01T10:01:03Z, last 2026-03-01T10:02:13Z"
}

allow "net-10-10-1-0-24-to-net-10-30-0-0-24" {
  from        = [segment.net-10-10-1-0-24]
  to          = [segment.net-10-30-0-0-24]
  services    = [service.tcp-9000]
  description = "Discovered: 12 flows, 27600 bytes, first 2026-03-01T10:00:49Z, last 2026-03-01T10:02:06Z"
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
