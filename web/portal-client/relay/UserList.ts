// The users list, paged both ways as BuildingList is.
export const UserListQuery = graphql`
  query UserListQuery($first: Int, $after: String, $last: Int, $before: String) {
    ...UserList_query @arguments(first: $first, after: $after, last: $last, before: $before)
  }
`;

export const UserList = graphql`
  fragment UserList_query on Query
  @refetchable(queryName: "UserListPaginationQuery")
  @argumentDefinitions(
    first: { type: "Int" }
    after: { type: "String" }
    last: { type: "Int" }
    before: { type: "String" }
  ) {
    users(first: $first, after: $after, last: $last, before: $before)
    @connection(key: "UserList_users") {
      totalCount
      edges {
        node {
          id
          email
          fullName
          ...UserInvoices_user
        }
      }
    }
  }
`;

declare function graphql(strings: TemplateStringsArray): unknown;
