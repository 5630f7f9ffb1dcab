// A user's invoices: a connection on a Node type, paged both ways. Its
// pagination query (UserInvoicesPaginationQuery) goes through
// Query.node(id:), since @refetchable is on User.
export const UserInvoices = graphql`
  fragment UserInvoices_user on User
  @refetchable(queryName: "UserInvoicesPaginationQuery")
  @argumentDefinitions(
    first: { type: "Int", defaultValue: 5 }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    id
    invoices(first: $first, after: $after, last: $last, before: $before)
    @connection(key: "UserInvoices_invoices") {
      edges {
        node {
          id
          number
          amountMinor
          currency
          issuedAt
        }
      }
    }
  }
`;

declare function graphql(strings: TemplateStringsArray): unknown;
