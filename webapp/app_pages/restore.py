"""The Restore page (its code is :mod:`webapp.restore_page`: imported once, not
recompiled at every rerun, which costs a tenth of a second on a page this size)."""

from webapp.restore_page import main

main()
