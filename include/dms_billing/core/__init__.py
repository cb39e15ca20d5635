"""The billing rules and the facts they stand on: months, calendars, money, columns, configuration, the rule, invoices, jobs. Imports nothing else of the package."""
