"""`python -m harness.cli ...`: how a sweep runs each point in a child process."""
from . import main

main()
