from flowdesk.importing.command import ImportCommand, RecordError, serializer_errors
from messaging.importing.fastpath import well_formed_flow
from messaging.importing.serializers import ImportMessageFlowSerializer
from messaging.importing.writing import FlowWriter


class Command(ImportCommand):
    help = (
        "Import message flows from the body of GET /v1/api/message-flows (a JSON array, or JSON "
        "Lines). Each record's workspaceId names its workspace, created in --org when missing; "
        "the agents the flows name are created in their workspace when missing."
    )
    record_name = "message flow"
    organization_flag = True

    def resolve_scope(self, options):
        organization = self.get_or_create_organization(options["org"])
        self.writer = FlowWriter(organization, self.note)
        return organization

    def parse_record(self, record, scope):
        # A well-formed record is accepted in plain Python (the same validated data); anything
        # else goes to the serializer, which words the error.
        data = well_formed_flow(record)
        if data is None:
            data = serializer_errors(ImportMessageFlowSerializer, record)
        return data

    def write_batch(self, batch, organization):
        try:
            return self.writer.write(batch)
        except RecordError as exc:
            # Refusals found while writing name the record by its _id, as parse errors do.
            parsed = dict(batch).get(exc.position)
            if parsed is not None:
                exc.label = f"_id {parsed['id']}"
            raise
