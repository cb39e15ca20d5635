"""Reading the DMS: connections, the extraction SQL, the source checks and validation. Imports core."""
