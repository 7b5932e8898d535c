"""Data files shipped with Warta: IPTC Media Topics and the wire's own labels (MEDIATOPICS-LICENCE.txt)."""
