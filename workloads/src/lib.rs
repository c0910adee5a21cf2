//! Operation generators and target clients (arrives with the runner issue).
