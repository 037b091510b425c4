# Usage: awk -f find-rf.awk QEMU-d-int.log
# Prints every CPL3 #BP (v=03) whose flags at delivery have RF (bit 16) set,
# with the 4 interrupt/exception records before it (header + RFL + CR2).
/ v=[0-9a-f][0-9a-f] / { hdr=$0; next }
/^RIP=/ && hdr!="" {
	rfl=$0; sub(/.*RFL=/,"",rfl); sub(/ .*/,"",rfl)
	rec = hdr " | RFL=" rfl
	n++; h[n%6]=rec
	if (hdr ~ / v=03 / && hdr ~ /cpl=3/ && substr(rfl, length(rfl)-4, 1) ~ /[13579bdf]/) {
		hits++; print "=== hit " hits
		for (k=n-4;k<=n;k++) if (k>0) print h[k%6]
	}
	hdr=""
}
