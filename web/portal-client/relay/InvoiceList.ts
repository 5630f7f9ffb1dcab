// The invoices list, newest first, paged both ways.
export const InvoiceListQuery = graphql`
  query InvoiceListQuery($first: Int, $after: String, $last: Int, $before: String) {
    ...InvoiceList_query @arguments(first: $first, after: $after, last: $last, before: $before)
  }
`;

export const InvoiceList = graphql`
  fragment InvoiceList_query on Query
  @refetchable(queryName: "InvoiceListPaginationQuery")
  @argumentDefinitions(
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    invoices(first: $first, after: $after, last: $last, before: $before)
    @connection(key: "InvoiceList_invoices") {
      edges {
        node {
          id
          number
          createdBy {
            id
            fullName
          }
        }
      }
    }
  }
`;

declare function graphql(strings: TemplateStringsArray): unknown;
