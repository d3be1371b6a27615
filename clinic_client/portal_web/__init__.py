"""The person's portal page (the マイナポータル stand-in), served on their own PC."""
