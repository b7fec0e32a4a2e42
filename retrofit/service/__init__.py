"""The app's services: who may see and do what (access, sign-in identity), the review of a run,
background jobs, and the working set of files (stocks, library versions, cached candidates)."""
