# want: Expected a list
network "corp" { cidrs = "10.0.0.0/8" }
