"""What a user can do: link, rate, read ratings, share. Plain async code; no Discord types."""
