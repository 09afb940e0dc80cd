from correspondence_guard.cli import main

if __name__ == "__main__":  # not when a check process (multiprocessing spawn) imports it
    raise SystemExit(main())
