// A building as the portal's card shows it. @refetchable on a Node type:
// Relay refetches it through Query.node(id:) (BuildingCardRefetchQuery).
export const BuildingCard = graphql`
  fragment BuildingCard_building on Building
  @refetchable(queryName: "BuildingCardRefetchQuery") {
    id
    name
    address
    primaryContact {
      id
      fullName
    }
    contacts {
      role
      isPrimary
      contact {
        id
        fullName
        email
        phone
      }
    }
  }
`;

declare function graphql(strings: TemplateStringsArray): unknown;
