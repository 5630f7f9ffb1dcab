package graphiql

// PortalTabs are the tabs `gateway dev` opens GraphiQL with: a starting
// query (which the first admin token, picked by default, answers), then one
// tab of example operations per kind of user: the portal's admins and
// providers, and internal tooling's service account. Each tab says which
// token of the bar it needs.
func PortalTabs() []Tab {
	return []Tab{
		{Query: startQuery},
		{Query: adminQueries, Variables: adminVariables},
		{Query: providerQueries},
		{Query: internalQueries},
	}
}

const startQuery = `# The property portal's GraphQL API. Requests carry the token picked in the
# bar above. Ctrl-Enter runs the operation; Ctrl-Space completes a field.
# The sidebar has the Docs (the schema) and the Explorer (click fields to
# build a query); the other tabs hold examples per kind of user.
query Buildings {
  buildings(first: 5) {
    totalCount
    edges {
      node {
        id
        name
        address
        contacts {
          role
          isPrimary
          contact {
            fullName
            email
          }
        }
      }
    }
  }
}
`

const adminQueries = `# Portal admin: pick an "admin, …" token. An admin manages its own tenant
# and sees all of its PII. The run button asks which operation to run.
query TenantUsers {
  users(first: 10, orderBy: {field: EMAIL, direction: ASC}) {
    totalCount
    edges {
      node {
        id
        email
        fullName
        idpId
        contact {
          id
        }
      }
    }
  }
}

query RecentInvoices {
  invoices(first: 10) {
    edges {
      node {
        number
        amountMinor
        currency
        issuedAt
        createdBy {
          fullName
        }
      }
    }
  }
}

query ContactsWithoutAccount {
  contacts(first: 10, filter: {hasAccount: false}) {
    edges {
      node {
        id
        fullName
        email
        buildings {
          role
          building {
            name
          }
        }
      }
    }
  }
}

# Changes the demo data (a new contact); the variables are below.
mutation RecordContact($input: ContactInput!) {
  createContact(input: $input) {
    id
    fullName
    email
    createdAt
  }
}
`

const adminVariables = `{
  "input": {
    "fullName": "Robin Example",
    "email": "robin@example.com"
  }
}
`

const providerQueries = `# Portal provider: pick a "provider, …" token. A provider sees its own
# tenant's buildings and its own profile.
query Me {
  me {
    id
    email
    fullName
    contact {
      fullName
      buildings {
        role
        isPrimary
        building {
          name
          address
        }
      }
    }
  }
}

query MyBuildings {
  buildings(first: 10) {
    edges {
      node {
        name
        address
        primaryContact {
          fullName
        }
      }
    }
  }
}
`

const internalQueries = `# Internal tooling: pick the "internal service account" token. It reads
# across tenants (me is null: a service account is no user).
query AcrossTenants {
  users(first: 10) {
    totalCount
    edges {
      node {
        id
        tenantId
        idpId
        externalId
        syncedAt
      }
    }
  }
  buildings(first: 1) {
    totalCount
  }
}

query InvoicesOfADomain {
  invoices(first: 10, filter: {createdByEmailDomain: "acme.com"}) {
    edges {
      node {
        tenantId
        number
        amountMinor
        currency
      }
    }
  }
}
`
